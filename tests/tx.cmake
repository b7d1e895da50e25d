# Transactions (issue 4): msync path on tmpfs, forced cache-flush path, and
# an ordinary disk file system.
pm_test(test_tx unit 300)
add_test(NAME test_tx_pmem COMMAND ${CMAKE_COMMAND} -E env PMEM_IS_PMEM_FORCE=1 $<TARGET_FILE:test_tx>)
set_tests_properties(test_tx_pmem PROPERTIES LABELS unit TIMEOUT 300)
add_test(NAME test_tx_disk COMMAND ${CMAKE_COMMAND} -E env PMSTORE_TEST_DIR=${CMAKE_BINARY_DIR}/testpools $<TARGET_FILE:test_tx>)
set_tests_properties(test_tx_disk PROPERTIES LABELS unit TIMEOUT 300 FIXTURES_REQUIRED testpools)
# Power-loss images at every fence of a random operation sequence, torn
# fence windows included (see the file's comment).
pm_test(test_crash_tx crash 600)
add_test(NAME test_crash_tx_long COMMAND ${CMAKE_COMMAND} -E env PMSTORE_CRASH_OPS=600 $<TARGET_FILE:test_crash_tx>)
set_tests_properties(test_crash_tx_long PROPERTIES LABELS long TIMEOUT 3600)
