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
else()
  message(STATUS "tests: libpmemobj.h not found; test_pmemobj_names not built")
endif()
