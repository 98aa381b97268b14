# Tests of the wire protocol (proto/wire.c) and of key files (keys/keys.c),
# plus the golden bytes checked by an independent decoder.
renkei_add_test(test_wire SOURCES test_wire.c LIBS renkei_wire renkei_keys LABEL unit)
renkei_add_test(test_keys SOURCES test_keys.c LIBS renkei_keys renkei_wire LABEL unit)
add_dependencies(test_keys renkei-keygen)
