# Integration tests: the real programs (renkei-hub, renkei-ctl, renkei-agent,
# renkei-keygen) over CURVE ZeroMQ, real LMDB and libsodium.  No mocks.
# Every test named below must have its tests/test_it_NAME.c: a missing file
# is a configure error.
add_library(renkei_it_harness STATIC harness.c rawclient.c)
target_include_directories(renkei_it_harness PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(renkei_it_harness PUBLIC renkei_wire renkei_keys PkgConfig::ZMQ
  PkgConfig::SODIUM PkgConfig::JANSSON)

set(RENKEI_IT_TESTS
  move refusals unregistered privacy at_rest logprivacy agent_full oracles cmdline memory conn faults access
  reseal backup metrics http numbers exec spool http_inbox webhook openapi_client witness)
foreach(t ${RENKEI_IT_TESTS})
  renkei_add_test(test_it_${t} SOURCES test_it_${t}.c
    LIBS renkei_it_harness lmdb::lmdb LABEL integration TIMEOUT 120)
  # The programs under test must be built before the test runs.
  add_dependencies(test_it_${t} renkei-keygen renkei-hub renkei-hub-faults renkei-ctl renkei-agent)
endforeach()

# it_load: the agent library driven as a load generator (send, serve,
# report), started and killed as a process by the durability tests.
add_executable(it_load it_load.c)
target_link_libraries(it_load PRIVATE renkei_agent lmdb::lmdb)
set(RENKEI_IT_LOAD_TESTS durable chaos rotate hubkey service)
foreach(t ${RENKEI_IT_LOAD_TESTS})
  renkei_add_test(test_it_${t} SOURCES test_it_${t}.c
    LIBS renkei_it_harness lmdb::lmdb LABEL integration TIMEOUT 300)
  add_dependencies(test_it_${t} renkei-keygen renkei-hub renkei-ctl renkei-agent it_load)
endforeach()

# The agent library when allocations fail: its own calls to the allocators
# are wrapped (the linker's --wrap reaches only the objects linked here).
renkei_add_test(test_it_agent_nomem SOURCES test_it_agent_nomem.c LIBS renkei_it_harness renkei_agent
  LABEL integration TIMEOUT 600)
target_link_options(test_it_agent_nomem PRIVATE
  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=sodium_malloc)
add_dependencies(test_it_agent_nomem renkei-keygen renkei-hub renkei-ctl)

# test_it_cmdline checks every program's command line.
add_dependencies(test_it_cmdline renkei-audit renkei-bench)
add_dependencies(test_it_access renkei-audit)
add_dependencies(test_it_backup renkei-audit)
add_dependencies(test_it_reseal renkei-audit)
add_dependencies(test_it_hubkey renkei-audit)
# ...and writes the hub's store behind renkei-ctl's back, as someone with
# file access could, to see the auditor catch it.
target_link_libraries(test_it_access PRIVATE renkei_store)

# The systemd units (systemd/) as systemd reads them: systemd-analyze verify
# and security --offline over copies naming this build's programs.
add_test(NAME units_check COMMAND /bin/bash ${CMAKE_CURRENT_SOURCE_DIR}/units_check.sh)
set_tests_properties(units_check PROPERTIES LABELS integration TIMEOUT 120
  ENVIRONMENT "RENKEI_BIN_DIR=${PROJECT_BINARY_DIR}/bin;RENKEI_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
# test_it_http reads the API's description to check the server against it.
target_compile_definitions(test_it_http PRIVATE RENKEI_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_compile_definitions(test_it_http_inbox PRIVATE RENKEI_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# test_it_openapi_client runs the client written from agents/openapi.json
# (tests/clients/) against two gateways.
target_compile_definitions(test_it_openapi_client PRIVATE RENKEI_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# test_it_witness: renkei-witness cosigning the hub's checkpoints; it signs
# forged checkpoints with test keys (tlog) and reads the auditor's frames.
add_dependencies(test_it_witness renkei-witness)
target_link_libraries(test_it_witness PRIVATE renkei_tlog)
