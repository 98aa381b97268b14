# The routing log's Merkle tree and signed checkpoints (tlog/), plus the
# check against an independent implementation: merkle_ref.py, written from
# RFC 9162 and the C2SP note formats with hashlib and PyNaCl, recomputes
# everything tlog_vectors prints.
renkei_add_test(test_merkle SOURCES test_merkle.c LIBS renkei_tlog LABEL unit TIMEOUT 120)
renkei_add_test(test_note SOURCES test_note.c LIBS renkei_tlog LABEL unit)

add_executable(tlog_vectors tlog_vectors.c)
target_link_libraries(tlog_vectors PRIVATE renkei_tlog)
set_target_properties(tlog_vectors PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
add_test(NAME tlog_merkle_ref
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tlog/merkle_ref.py
                 $<TARGET_FILE:tlog_vectors>)
set_tests_properties(tlog_merkle_ref PROPERTIES LABELS unit TIMEOUT 60)
