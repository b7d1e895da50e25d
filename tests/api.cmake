# Issue 12's calls (pm_realloc, strdup, root growth, typed access, locks,
# tx helpers, PM_TX) and the header's coexistence with PMDK's libpmemobj.h.

# pmstore.h next to libpmemobj.h, both include orders, -Werror; plus a C++
# compile of both orders (the header is also meant for C++ callers).
include(CheckIncludeFile)
check_include_file(libpmemobj.h PMSTORE_HAVE_LIBPMEMOBJ_H)
pkg_check_modules(PMEMOBJ_T IMPORTED_TARGET libpmemobj)
if(PMSTORE_HAVE_LIBPMEMOBJ_H AND PMEMOBJ_T_FOUND)
  foreach(order pmstore_first pobj_first)
    set(t test_pmemobj_names_${order})
    add_executable(${t} test_pmemobj_names.c)
    target_compile_options(${t} PRIVATE -Wall -Wextra -Werror)
    if(order STREQUAL pobj_first)
      target_compile_definitions(${t} PRIVATE PM_NAMES_POBJ_FIRST)
    endif()
    target_link_libraries(${t} pmstore_static PkgConfig::PMEMOBJ_T ${CMOCKA_LIB} Threads::Threads)
    add_test(NAME ${t} COMMAND ${t})
    set_tests_properties(${t} PROPERTIES LABELS unit TIMEOUT 60)
  endforeach()
  foreach(order 0 1)
    add_test(NAME test_pmemobj_names_cxx_${order}
      COMMAND ${CMAKE_CXX_COMPILER} -fsyntax-only -Wall -Wextra -Werror -x c++
        -DPM_NAMES_ORDER=${order} -I${PMSTORE_SOURCE_DIR}/include
        ${CMAKE_CURRENT_SOURCE_DIR}/names_cxx.h)
    set_tests_properties(test_pmemobj_names_cxx_${order} PROPERTIES LABELS unit TIMEOUT 60)
  endforeach()
  foreach(order 0 1)
    add_test(NAME test_pmemobj_names_c99_${order}
      COMMAND ${CMAKE_C_COMPILER} -fsyntax-only -std=c99 -pedantic -Wall -Wextra -Werror
        -DPM_NAMES_ORDER=${order} -I${PMSTORE_SOURCE_DIR}/include
        ${CMAKE_CURRENT_SOURCE_DIR}/names_c.c)
    set_tests_properties(test_pmemobj_names_c99_${order} PROPERTIES LABELS unit TIMEOUT 60)
  endforeach()
else()
  message(STATUS "tests: libpmemobj.h not found; test_pmemobj_names not built")
endif()

# The calls themselves (functional, errors, fences per call).
pm_test(test_api unit 120)
add_test(NAME test_api_pmem COMMAND ${CMAKE_COMMAND} -E env PMEM_IS_PMEM_FORCE=1 $<TARGET_FILE:test_api>)
set_tests_properties(test_api_pmem PROPERTIES LABELS unit TIMEOUT 120)

# The random crash checker with issue 12's calls as half of its mix
# (pm_realloc, pm_strdup, pm_root growth; tx_prealloc / tx_strdup inside
# its transactions).  Seeded bugs 31-33 (src/base/seeded_bugs.h) must each
# make it fail: cmake -DPMSTORE_MODEL_BUGS="31;32;33" then
#   PMSTORE_MODEL_CASE=api build/tests/test_crash_model_bugN
add_test(NAME test_crash_model_api COMMAND ${CMAKE_COMMAND} -E env PMSTORE_MODEL_CASE=api PMSTORE_MODEL_OPS=15 $<TARGET_FILE:test_crash_model>)
set_tests_properties(test_crash_model_api PROPERTIES LABELS crash TIMEOUT 600)

# Typed offsets: the correct use compiles, each mistake does not, with the
# diagnostic it is there for (tests/typed_misuse.c).  GCC's wording.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  set(PM_TYPED_CASES
    "0:"
    "1:incompatible types when assigning"
    "2:incompatible type for argument"
    "3:has no member named"
    "4:invalid initializer|makes pointer from integer"
    "5:incompatible types when initializing"
    "6:incompatible pointer type"
    "7:PM_TOID of different types")
  foreach(pair ${PM_TYPED_CASES})
    string(FIND "${pair}" ":" colon)
    string(SUBSTRING "${pair}" 0 ${colon} n)
    math(EXPR colon "${colon} + 1")
    string(SUBSTRING "${pair}" ${colon} -1 pat)
    add_test(NAME test_typed_case${n} COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/expect_compile_error.sh
      ${CMAKE_C_COMPILER} ${CMAKE_CURRENT_SOURCE_DIR}/typed_misuse.c ${PMSTORE_SOURCE_DIR}/include ${n} "${pat}")
    set_tests_properties(test_typed_case${n} PROPERTIES LABELS unit TIMEOUT 60)
  endforeach()
endif()

# Persistent locks: against a library whose opens all share one run id
# (seeded bug 34), a lock held by a killed process stays held after the
# next open -- test_plock_survives_kill must fail.
pmstore_seeded_library(pmstore_apibug34 34)
add_executable(test_api_bug34 test_api.c)
target_link_libraries(test_api_bug34 pmstore_apibug34 ${CMOCKA_LIB} Threads::Threads)
add_test(NAME selftest_bug34 COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/expect_caught.sh
         $<TARGET_FILE:test_api_bug34> test_plock_survives_kill)
set_tests_properties(selftest_bug34 PROPERTIES LABELS unit TIMEOUT 120)

# PM_TX against the PMDK-style for-loop macro (PM_TEST_NAIVE_TX): a
# `break` or `return` in the body skips the end, so test_pm_tx_early_exit
# must fail there -- the test sees what PM_TX exists to prevent.
add_executable(test_api_naive_tx test_api.c)
target_compile_definitions(test_api_naive_tx PRIVATE PM_TEST_NAIVE_TX)
target_link_libraries(test_api_naive_tx pmstore_static ${CMOCKA_LIB} Threads::Threads)
add_test(NAME selftest_pm_tx_naive COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/expect_caught.sh
         $<TARGET_FILE:test_api_naive_tx> test_pm_tx_early_exit)
set_tests_properties(selftest_pm_tx_naive PROPERTIES LABELS unit TIMEOUT 120)
