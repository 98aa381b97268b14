# renkei-audit against the real hub: verify, query, export, and tampering
# with the hub's LMDB files caught.
if(TARGET renkei-audit AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_it_audit.c)
  if(NOT TARGET renkei_it_harness)
    add_library(renkei_it_harness STATIC harness.c rawclient.c)
    target_include_directories(renkei_it_harness PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(renkei_it_harness PUBLIC renkei_wire renkei_keys PkgConfig::ZMQ
      PkgConfig::SODIUM PkgConfig::JANSSON)
  endif()
  renkei_add_test(test_it_audit SOURCES test_it_audit.c
    LIBS renkei_it_harness renkei_tlog lmdb::lmdb LABEL integration TIMEOUT 180)
  foreach(prog renkei-keygen renkei-hub renkei-ctl renkei-agent renkei-audit)
    if(TARGET ${prog})
      add_dependencies(test_it_audit ${prog})
    endif()
  endforeach()
endif()
