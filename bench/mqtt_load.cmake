# MQTT broker load generator (bench/mqtt_load.cc) and its unit tests.
# Included from bench/CMakeLists.txt: include(${CMAKE_CURRENT_SOURCE_DIR}/mqtt_load.cmake)
# Needs Debian's libmosquitto-dev; skipped with a message when it is missing.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(MOSQUITTO IMPORTED_TARGET libmosquitto)
endif()
if(NOT MOSQUITTO_FOUND)
  message(STATUS "mqtt_load: libmosquitto-dev not found, benchmark not built")
  return()
endif()

add_library(evg_mqtt_load_lib STATIC ${CMAKE_CURRENT_LIST_DIR}/mqtt_load_lib.cc)
target_include_directories(evg_mqtt_load_lib PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(evg_mqtt_load_lib PUBLIC evg_base)
evg_warnings(evg_mqtt_load_lib)

add_executable(mqtt_load ${CMAKE_CURRENT_LIST_DIR}/mqtt_load.cc)
target_link_libraries(mqtt_load PRIVATE evg_mqtt_load_lib PkgConfig::MOSQUITTO)
evg_warnings(mqtt_load)

if(EVG_BUILD_TESTS)
  add_executable(mqtt_load_test ${CMAKE_CURRENT_LIST_DIR}/mqtt_load_test.cc)
  target_link_libraries(mqtt_load_test PRIVATE evg_mqtt_load_lib GTest::gtest GTest::gtest_main)
  target_compile_options(mqtt_load_test PRIVATE ${EVG_WARNINGS})
  add_test(NAME mqtt_load_test COMMAND mqtt_load_test)
endif()
