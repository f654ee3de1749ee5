# evg_add_module(NAME SOURCES a.cc b.cc DEPS other_module ... [TEST_DEPS ...])
# Creates static library evg_<NAME> from src/<NAME>/, with include root src/ (so includes read
# "base/status.h"), and, when EVG_BUILD_TESTS is on and *_test.cc files exist beside the code,
# the gtest binary <NAME>_test registered with CTest.
set(EVG_WARNINGS -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wpedantic -Wno-missing-field-initializers)
# GCC 12 at -O3 reports -Wrestrict false positives inside libstdc++'s string concatenation
# (GCC bug 105329); they would break Release builds under -Werror.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND EVG_WARNINGS -Wno-restrict)
endif()

# Code size (issue 17, docs/performance.md "Link and optimisation options"): modules that only run
# at start, on deployments, on the CLI or a few times an hour are compiled with -Os; the message
# paths (mqtt, broker, router, ipc, supervisor, cloud, spool, shadow, streammgr, base) keep the
# build type's -O2/-O3. Measured: -1.1 MB RSS/PSS of the idle core for -Os everywhere, +5 % on the
# function path's p50 — hence not everywhere. Empty the list to compile everything alike.
set(EVG_SIZE_OPTIMIZED_MODULES "aws;certs;config;container;discovery;functions;group;importer;jobs;metrics;secrets;sqlite;tes"
    CACHE STRING "modules compiled with -Os in optimised builds")
set(EVG_SIZE_OPTIMIZED_DAEMON_SOURCES "cli.cc;control.cc;core_certs.cc;core_deploy.cc;core_jobs.cc;core_metrics.cc;core_status.cc;core_streams.cc;core_tes.cc;daemon.cc;deploy_history.cc;function_specs.cc;job_document_cli.cc;logs_cli.cc;root.cc;root_default.cc;systemd_notify.cc")
function(evg_size_optimized_build OUT)
  if(CMAKE_BUILD_TYPE STREQUAL "Debug" OR CMAKE_BUILD_TYPE STREQUAL "")
    set(${OUT} FALSE PARENT_SCOPE)
  else()
    set(${OUT} TRUE PARENT_SCOPE)
  endif()
endfunction()

# The project's warnings on TARGET, as errors when EVG_WERROR is on (modules, benches, tools).
function(evg_warnings TARGET)
  target_compile_options(${TARGET} PRIVATE ${EVG_WARNINGS})
  if(EVG_WERROR)
    target_compile_options(${TARGET} PRIVATE -Werror)
  endif()
endfunction()

function(evg_add_module NAME)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;TEST_DEPS;TEST_SOURCES" ${ARGN})
  add_library(evg_${NAME} STATIC ${M_SOURCES})
  target_include_directories(evg_${NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  evg_warnings(evg_${NAME})
  evg_size_optimized_build(small)
  if(small AND NAME IN_LIST EVG_SIZE_OPTIMIZED_MODULES)
    target_compile_options(evg_${NAME} PRIVATE -Os)
  endif()
  set(deps "")
  foreach(d ${M_DEPS})
    if(TARGET evg_${d})
      list(APPEND deps evg_${d})
    else()
      list(APPEND deps ${d})
    endif()
  endforeach()
  target_link_libraries(evg_${NAME} PUBLIC ${deps})
  if(EVG_BUILD_TESTS)
    if(M_TEST_SOURCES)
      set(tests ${M_TEST_SOURCES})
    else()
      file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
    endif()
    if(tests)
      add_executable(${NAME}_test ${tests})
      target_compile_options(${NAME}_test PRIVATE ${EVG_WARNINGS})
      target_link_libraries(${NAME}_test PRIVATE evg_${NAME} ${M_TEST_DEPS} GTest::gtest GTest::gtest_main Threads::Threads)
      add_test(NAME ${NAME}_test COMMAND ${NAME}_test)
    endif()
  endif()
endfunction()
