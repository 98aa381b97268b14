# The agent library every organization's system links against, and the
# renkei-agent command line over it.
add_library(renkei_agent STATIC
  ${CMAKE_CURRENT_LIST_DIR}/agent.c
  ${CMAKE_CURRENT_LIST_DIR}/codebook.c
  ${CMAKE_CURRENT_LIST_DIR}/mailbox.c
  ${CMAKE_CURRENT_LIST_DIR}/seal.c)
target_include_directories(renkei_agent PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(renkei_agent PUBLIC renkei_catalogue renkei_session renkei_keys renkei_wire renkei_tlog PkgConfig::ZMQ PkgConfig::SODIUM lmdb::lmdb)

add_executable(renkei-agent ${CMAKE_CURRENT_LIST_DIR}/main.c)
target_link_libraries(renkei-agent PRIVATE renkei_agent PkgConfig::JANSSON)
