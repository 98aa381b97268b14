# Unit tests of the agent library: the local code table, envelope sealing,
# and the connection logic against a fake hub in a thread.
renkei_add_test(test_agent_store SOURCES test_agent_store.c LIBS renkei_agent LABEL unit)
renkei_add_test(test_agent_number SOURCES test_agent_number.c LIBS renkei_agent LABEL unit)
renkei_add_test(test_agent_seal SOURCES test_agent_seal.c LIBS renkei_agent LABEL unit)
renkei_add_test(test_agent_net SOURCES test_agent_net.c LIBS renkei_agent Threads::Threads
  LABEL unit TIMEOUT 60)
renkei_add_test(test_agent_mailbox SOURCES test_agent_mailbox.c LIBS renkei_agent LABEL unit)
