# The command-line parser every program uses (common/cli.c).
renkei_add_test(test_cli SOURCES test_cli.c LIBS renkei_common LABEL unit)
# One operational log line of hub and agent (common/logline.c).
renkei_add_test(test_logline SOURCES test_logline.c LIBS renkei_common PkgConfig::JANSSON LABEL unit)
