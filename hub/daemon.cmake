# The routing core as a library (unit-testable without sockets), and the daemon.
set(RENKEI_ROUTE_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/policy.c
  ${CMAKE_CURRENT_SOURCE_DIR}/route.c
  ${CMAKE_CURRENT_SOURCE_DIR}/msgstate.c
  ${CMAKE_CURRENT_SOURCE_DIR}/audit.c
  ${CMAKE_CURRENT_SOURCE_DIR}/conns.c
  ${CMAKE_CURRENT_SOURCE_DIR}/log.c
  ${CMAKE_CURRENT_SOURCE_DIR}/verify.c
  ${CMAKE_CURRENT_SOURCE_DIR}/hub.c)
add_library(renkei_route STATIC ${RENKEI_ROUTE_SOURCES})
target_include_directories(renkei_route PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(renkei_route PUBLIC renkei_store renkei_tlog renkei_keys renkei_wire PkgConfig::ZMQ PkgConfig::SODIUM Threads::Threads)

add_executable(renkei-hub ${CMAKE_CURRENT_SOURCE_DIR}/main.c ${CMAKE_CURRENT_SOURCE_DIR}/options.c)
target_link_libraries(renkei-hub PRIVATE renkei_route)

if(RENKEI_TESTS)
  # For the tests only, never installed: the same daemon over a store that
  # fails on request (store.c, RENKEI_STORE_FAULTS), so that every failure
  # path of the hub's loop is run, not only reviewed.
  add_executable(renkei-hub-faults ${CMAKE_CURRENT_SOURCE_DIR}/main.c ${CMAKE_CURRENT_SOURCE_DIR}/options.c
    ${RENKEI_ROUTE_SOURCES}
    ${CMAKE_CURRENT_SOURCE_DIR}/store.c)
  target_compile_definitions(renkei-hub-faults PRIVATE RENKEI_STORE_FAULTS)
  target_include_directories(renkei-hub-faults PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(renkei-hub-faults PRIVATE renkei_tlog renkei_keys renkei_wire lmdb::lmdb
    PkgConfig::ZMQ PkgConfig::SODIUM Threads::Threads)
endif()
