# The agent library every organization's system links against, and the
# renkei-agent command line over it.
add_library(renkei_agent STATIC
  ${CMAKE_CURRENT_LIST_DIR}/agent.c
  ${CMAKE_CURRENT_LIST_DIR}/codebook.c
  ${CMAKE_CURRENT_LIST_DIR}/mailbox.c
  ${CMAKE_CURRENT_LIST_DIR}/number.c
  ${CMAKE_CURRENT_LIST_DIR}/seal.c)
target_include_directories(renkei_agent PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(renkei_agent PUBLIC renkei_catalogue renkei_session renkei_keys renkei_wire renkei_tlog PkgConfig::ZMQ PkgConfig::SODIUM lmdb::lmdb)

add_executable(renkei-agent ${CMAKE_CURRENT_LIST_DIR}/main.c ${CMAKE_CURRENT_LIST_DIR}/http.c ${CMAKE_CURRENT_LIST_DIR}/spool.c
  ${CMAKE_CURRENT_LIST_DIR}/exec.c ${CMAKE_CURRENT_LIST_DIR}/handler.c ${CMAKE_CURRENT_LIST_DIR}/webhook.c
  ${CMAKE_CURRENT_LIST_DIR}/keystore.c ${CMAKE_CURRENT_LIST_DIR}/gateway.c)
target_link_libraries(renkei-agent PRIVATE renkei_agent PkgConfig::JANSSON PkgConfig::MHD PkgConfig::CURL
  Threads::Threads)

# librenkei-agent, the installed library (shared, with a soname, and
# static): the agent's objects and those of the layers under it, which are
# not installed on their own.  Only the functions renkei/agent.h and
# renkei/protocol.h declare are exported from the shared library
# (librenkei-agent.map).
set(RENKEI_AGENT_LIB_OBJECTS
  $<TARGET_OBJECTS:renkei_agent> $<TARGET_OBJECTS:renkei_catalogue> $<TARGET_OBJECTS:renkei_session>
  $<TARGET_OBJECTS:renkei_keys> $<TARGET_OBJECTS:renkei_wire> $<TARGET_OBJECTS:renkei_tlog>
  $<TARGET_OBJECTS:renkei_common>)
set(RENKEI_AGENT_SOVERSION 0)
add_library(renkei_agent_shared SHARED ${RENKEI_AGENT_LIB_OBJECTS})
set_target_properties(renkei_agent_shared PROPERTIES OUTPUT_NAME renkei-agent VERSION ${PROJECT_VERSION}
  SOVERSION ${RENKEI_AGENT_SOVERSION} LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib
  LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/librenkei-agent.map)
target_link_options(renkei_agent_shared PRIVATE -Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/librenkei-agent.map)
if(NOT RENKEI_SANITIZE AND NOT RENKEI_FUZZ)
  # Every symbol resolved at link time (a sanitizer's runtime comes with the
  # program instead, so not in those builds).
  target_link_options(renkei_agent_shared PRIVATE -Wl,--no-undefined)
endif()
target_link_libraries(renkei_agent_shared PRIVATE PkgConfig::ZMQ PkgConfig::SODIUM PkgConfig::PROTOBUFC
  lmdb::lmdb Threads::Threads)
target_include_directories(renkei_agent_shared INTERFACE ${RENKEI_PUBLIC_INCLUDE_DIRS})

add_library(renkei_agent_static STATIC ${RENKEI_AGENT_LIB_OBJECTS})
set_target_properties(renkei_agent_static PROPERTIES OUTPUT_NAME renkei-agent
  ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
