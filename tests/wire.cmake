# Tests of the wire protocol (proto/wire.c) and of key files (keys/keys.c),
# plus the golden bytes checked by an independent decoder.
renkei_add_test(test_wire SOURCES test_wire.c LIBS renkei_wire renkei_keys LABEL unit)
renkei_add_test(test_keys SOURCES test_keys.c LIBS renkei_keys renkei_wire LABEL unit)
add_dependencies(test_keys renkei-keygen)

# Golden bytes.  make_golden writes tests/golden/client_send.bin (run it by
# hand only when the wire format changes on purpose); test_golden rebuilds
# the frame and compares; check_golden.py decodes the committed bytes with
# Python's protobuf and PyNaCl, sharing no code with wire.c.
add_executable(make_golden golden/make_golden.c golden/golden_frame.c)
target_link_libraries(make_golden PRIVATE renkei_wire PkgConfig::SODIUM)
set_target_properties(make_golden PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
renkei_add_test(test_golden SOURCES golden/test_golden.c golden/golden_frame.c
                LIBS renkei_wire PkgConfig::SODIUM LABEL unit)
add_test(NAME check_golden
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/golden/check_golden.py ${PROJECT_SOURCE_DIR})
set_tests_properties(check_golden PROPERTIES LABELS unit TIMEOUT 60)
