# The hub session (session/session.h) against a CURVE ROUTER with a ZAP
# handler in a thread of the test: welcome, refused key, wrong hub key, no
# hub, request matching.
renkei_add_test(test_session SOURCES test_session.c LIBS renkei_session Threads::Threads LABEL unit TIMEOUT 60)
