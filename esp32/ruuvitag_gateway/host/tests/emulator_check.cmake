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
# Every other format (3, 6, E1: 12 vectors + 3 whole advertisements) with --all-formats,
# and none of them without it (the firmware's default publishes Format 5 only).
execute_process(COMMAND ${EMULATOR} --vectors ${VECTORS}/ruuvi_other_formats.json --stdout --all-formats
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(REGEX MATCHALL "\n" lines "${out}")
list(LENGTH lines nl)
if(NOT rc EQUAL 0 OR NOT nl EQUAL 15)
  message(FATAL_ERROR "expected 15 messages of formats 3/6/E1 (${rc}), got ${nl}: ${out} ${err}")
endif()
foreach(fmt 3 6 225)
  string(FIND "${out}" "\"data_format\":${fmt}," pos)
  if(pos LESS 0)
    message(FATAL_ERROR "no data_format ${fmt} message: ${out}")
  endif()
endforeach()
execute_process(COMMAND ${EMULATOR} --vectors ${VECTORS}/ruuvi_other_formats.json --stdout
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT out STREQUAL "")
  message(FATAL_ERROR "without --all-formats nothing but Format 5 is published: ${out}")
endif()
message(STATUS "emulator --stdout OK: ${err}")
