# Cloud spool storage benchmark (src/spool): SQLite WAL vs append-only log, durable append rate.
if(TARGET evg_spool)
  find_package(benchmark QUIET)
  if(benchmark_FOUND)
    add_executable(spool_bench ${CMAKE_CURRENT_LIST_DIR}/spool_bench.cc)
    target_link_libraries(spool_bench PRIVATE evg_spool benchmark::benchmark)
    evg_warnings(spool_bench)
  endif()
endif()
