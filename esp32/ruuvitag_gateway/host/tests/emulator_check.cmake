# ctest script: the emulator in --stdout mode on the shared vectors publishes
# one message per vector, then (with --count) repeats them as new measurements.
execute_process(COMMAND ${EMULATOR} --vectors ${VECTORS}/ruuvi_format5.json --stdout
                        --gateway-id esp32-gw-01 --gateway-mac 24:0A:C4:12:34:56
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "emulator failed (${rc}): ${err}")
endif()
string(REGEX MATCHALL "\n" lines "${out}")
list(LENGTH lines nl)
if(NOT nl EQUAL 5)
  message(FATAL_ERROR "expected 5 messages, got ${nl}: ${out}")
endif()
string(JSON gw GET "${out}" gateway_id)
string(JSON raw GET "${out}" raw)
if(NOT gw STREQUAL "esp32-gw-01" OR NOT raw STREQUAL "0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
  message(FATAL_ERROR "unexpected first message: ${out}")
endif()
execute_process(COMMAND ${EMULATOR} --vectors ${VECTORS}/ruuvi_format5.json --stdout --count 50
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(REGEX MATCHALL "\n" lines "${out}")
list(LENGTH lines nl)
if(NOT rc EQUAL 0 OR NOT nl EQUAL 50)
  message(FATAL_ERROR "expected 50 messages (${rc}), got ${nl}: ${err}")
endif()
message(STATUS "emulator --stdout OK: ${err}")
