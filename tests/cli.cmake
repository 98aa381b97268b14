# The command-line parser every program uses (common/cli.c).
renkei_add_test(test_cli SOURCES test_cli.c LIBS renkei_common LABEL unit)
