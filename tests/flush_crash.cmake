# The flush layer's own tables under a recorder (tests/test_flush_crash.c):
# the libpmem / msync calls they make are wrapped at link time, so the
# checker sees what the REAL msync and pmem tables hand to the OS and CPU.
pm_test(test_flush_crash unit 300)
target_link_options(test_flush_crash PRIVATE
  -Wl,--wrap=pmem_msync -Wl,--wrap=pmem_flush -Wl,--wrap=pmem_drain
  -Wl,--wrap=pmem_memcpy -Wl,--wrap=pmem_memset -Wl,--wrap=msync)
# pools and maps on an ordinary disk file system (msync to a real device)
add_test(NAME test_flush_crash_disk COMMAND ${CMAKE_COMMAND} -E env PMSTORE_TEST_DIR=${CMAKE_BINARY_DIR}/testpools PMSTORE_FC_ITERS=4000 $<TARGET_FILE:test_flush_crash>)
set_tests_properties(test_flush_crash_disk PROPERTIES LABELS unit TIMEOUT 300 FIXTURES_REQUIRED testpools)
# Self-tests: a dropped msync must be reported as kind=uncovered, a dropped
# pmem_drain as kind=no-drain; any other outcome fails them.
add_test(NAME test_flush_crash_selftest_msync
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/flush_crash_selftest.sh $<TARGET_FILE:test_flush_crash> drop-msync:3 uncovered)
add_test(NAME test_flush_crash_selftest_pooldrop
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/flush_crash_selftest.sh $<TARGET_FILE:test_flush_crash> pool-drop-msync:100 uncovered)
add_test(NAME test_flush_crash_selftest_drain
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/flush_crash_selftest.sh $<TARGET_FILE:test_flush_crash> drop-drain:2 no-drain)
set_tests_properties(test_flush_crash_selftest_msync test_flush_crash_selftest_pooldrop test_flush_crash_selftest_drain
  PROPERTIES LABELS unit TIMEOUT 300)
# A failed msync must become a sticky pool error (the fix design); fails
# on a library that drops pmem_msync's result (the base commit does).
add_test(NAME test_flush_crash_eio COMMAND ${CMAKE_COMMAND} -E env PMSTORE_FC_EIO=1 $<TARGET_FILE:test_flush_crash>)
set_tests_properties(test_flush_crash_eio PROPERTIES LABELS unit TIMEOUT 120)
