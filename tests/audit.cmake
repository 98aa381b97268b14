# renkei-audit against the real hub: verify, query, export, and tampering
# with the hub's LMDB files caught.  renkei_it_harness is defined in
# integration.cmake.
renkei_add_test(test_it_audit SOURCES test_it_audit.c
  LIBS renkei_it_harness renkei_tlog lmdb::lmdb LABEL integration TIMEOUT 180)
add_dependencies(test_it_audit renkei-keygen renkei-hub renkei-ctl renkei-agent renkei-audit)

# renkei-audit vkey, export --format leaves and check: the auditor's checks
# without the hub, and an independent Python verifier.
renkei_add_test(test_it_audit_offline SOURCES test_it_audit_offline.c
  LIBS renkei_it_harness renkei_tlog lmdb::lmdb LABEL integration TIMEOUT 180)
add_dependencies(test_it_audit_offline renkei-keygen renkei-hub renkei-ctl renkei-agent renkei-audit)
