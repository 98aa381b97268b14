# renkei_hub: the hub's core as a library (routing, policy, connections, the
# routing log, verification and the event loop), unit-testable without
# sockets; renkei-hub is the daemon's main() over it.
set(RENKEI_HUB_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/route.c
  ${CMAKE_CURRENT_SOURCE_DIR}/msgstate.c
  ${CMAKE_CURRENT_SOURCE_DIR}/audit.c
  ${CMAKE_CURRENT_SOURCE_DIR}/hubkey.c
  ${CMAKE_CURRENT_SOURCE_DIR}/conns.c
  ${CMAKE_CURRENT_SOURCE_DIR}/log.c
  ${CMAKE_CURRENT_SOURCE_DIR}/verify.c
  ${CMAKE_CURRENT_SOURCE_DIR}/metrics.c
  ${CMAKE_CURRENT_SOURCE_DIR}/hub.c)
add_library(renkei_hub STATIC ${RENKEI_HUB_SOURCES})
target_include_directories(renkei_hub PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(renkei_hub PUBLIC renkei_store renkei_tlog renkei_keys renkei_wire PkgConfig::ZMQ PkgConfig::SODIUM PkgConfig::MHD Threads::Threads)

add_executable(renkei-hub ${CMAKE_CURRENT_SOURCE_DIR}/main.c ${CMAKE_CURRENT_SOURCE_DIR}/options.c
  ${CMAKE_CURRENT_SOURCE_DIR}/service.c)
target_link_libraries(renkei-hub PRIVATE renkei_hub PkgConfig::SYSTEMD)

if(RENKEI_TESTS)
  # For the tests only, never installed: the same daemon over a store that
  # fails on request (store.c, RENKEI_STORE_FAULTS), so that every failure
  # path of the hub's loop is run, not only reviewed.
  add_executable(renkei-hub-faults ${CMAKE_CURRENT_SOURCE_DIR}/main.c ${CMAKE_CURRENT_SOURCE_DIR}/options.c
    ${CMAKE_CURRENT_SOURCE_DIR}/service.c ${RENKEI_HUB_SOURCES} ${RENKEI_STORE_SOURCES})
  target_compile_definitions(renkei-hub-faults PRIVATE RENKEI_STORE_FAULTS)
  target_include_directories(renkei-hub-faults PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(renkei-hub-faults PRIVATE renkei_catalogue renkei_tlog renkei_keys renkei_wire lmdb::lmdb
    PkgConfig::ZMQ PkgConfig::SODIUM PkgConfig::SYSTEMD PkgConfig::MHD Threads::Threads)
endif()
