# Seeded-bug self-tests of tests/test_regress.c (and, at the end, of
# tests/test_flush_group.c): each bug of the kinds the
# crash-consistency review found (src/base/seeded_bugs.h, 9-23, 40-41, 45-46 and 49) is built
# into its own library, and the regression test written for it must fail
# against that library -- that test, as a test failure (expect_caught.sh).

# pmstore_bug_selftests(PREFIX EXE_PREFIX TEST_PREFIX SOURCE PAIRS [QUICK] [LIBS ...])
# For each "bug:test" pair: a library with that bug (PREFIX<bug>), the
# test file built against it (EXE_PREFIX<bug>), and a ctest TEST_PREFIX<bug>
# that passes only if that test fails there (expect_caught.sh).  QUICK runs
# it in the build's test-pool directory with PMSTORE_TEST_QUICK=1.
function(pmstore_bug_selftests prefix exe_prefix test_prefix source pairs)
  cmake_parse_arguments(ARG "QUICK" "" "LIBS" ${ARGN})
  foreach(pair ${${pairs}})
    string(REPLACE ":" ";" parts ${pair})
    list(GET parts 0 bug)
    list(GET parts 1 tname)
    pmstore_seeded_library(${prefix}${bug} ${bug})
    add_executable(${exe_prefix}${bug} ${source})
    target_link_libraries(${exe_prefix}${bug} ${prefix}${bug} ${CMOCKA_LIB} ${ARG_LIBS})
    set(run sh ${CMAKE_CURRENT_SOURCE_DIR}/expect_caught.sh $<TARGET_FILE:${exe_prefix}${bug}> ${tname})
    if(ARG_QUICK)
      add_test(NAME ${test_prefix}${bug} COMMAND ${CMAKE_COMMAND} -E env
               PMSTORE_TEST_DIR=${CMAKE_BINARY_DIR}/testpools PMSTORE_TEST_QUICK=1 ${run})
      set_tests_properties(${test_prefix}${bug} PROPERTIES FIXTURES_REQUIRED testpools)
    else()
      add_test(NAME ${test_prefix}${bug} COMMAND ${run})
    endif()
    set_tests_properties(${test_prefix}${bug} PROPERTIES LABELS unit TIMEOUT 300)
  endforeach()
endfunction()

set(PM_REGRESS_BUGS
  "9:test_alloc_result_used_before_return"
  "10:test_pool_two_lanes_publish_then_publish"
  "11:test_alloc_publish_links_new_nodes"
  "12:test_alloc_large_over_empty_run_tx_abort"
  "13:test_tx_multi_gap_add_after_fast_commit"
  "14:test_tx_abort_after_persisted_write"
  "15:test_pool_recovered_logs_stay_void"
  "16:test_alloc_double_free_refused"
  "17:test_alloc_run_over_dirty_chunk"
  "18:test_tx_recovery_crashed_keeps_rollback"
  "40:test_tx_ranges_first_add_after_fast_commit"
  "41:test_perm_save_atomic"
  "19:test_tx_big_commit_crash"
  "20:test_tx_big_commit_crash"
  "21:test_tx_big_commit_crash"
  "22:test_tx_big_commit_crash"
  "23:test_alloc_big_run_over_dirty_heap"
  "45:test_pool_grow_crash"
  "46:test_pool_grow_crash"
  "49:test_pool_watermark_renumber_durable")
pmstore_bug_selftests(pmstore_regbug test_regress_bug selftest_bug test_regress.c PM_REGRESS_BUGS)

# Damaged pools (bugs 47-48): the test of tests/test_damaged.c written for
# each must fail against a library that retires a lane past the generation
# cap (47) or keeps a watermark near 2^56 (48).
set(PM_DMG_BUGS
  "47:test_damaged_generation_top"
  "48:test_damaged_watermark")
pmstore_bug_selftests(pmstore_dmgbug test_damaged_bug selftest_dmgbug test_damaged.c PM_DMG_BUGS
                      LIBS Threads::Threads)

# Group commit (src/flush/flush.c, bugs 50-52): each seeded into its own
# library; the test of tests/test_flush_group.c written for it must fail.
set(PM_GC_BUGS
  "50:test_gc_shared_batch"
  "51:test_gc_shared_batch"
  "52:test_gc_error_reaches_every_waiter")
pmstore_bug_selftests(pmstore_gcbug test_flush_group_bug selftest_gcbug test_flush_group.c PM_GC_BUGS QUICK)

# WAL mode (src/flush/wal.c, bugs 53-55): test_wal's crash check must fail
# against a replay that resumes after an unreadable frame (53) and an
# operation end that does not sync (54); its restore case against a
# pm_restore that leaves the replaced pool's log in place (55).
set(PM_WAL_BUGS
  "53:test_wal_crash_prefixes"
  "54:test_wal_crash_prefixes"
  "55:test_wal_restore_drops_old_log")
pmstore_bug_selftests(pmstore_walbug test_wal_bug selftest_walbug test_wal.c PM_WAL_BUGS
                      LIBS Threads::Threads)
