# ctest script: ruuvi-decode on the official Format 5 vectors (arguments and
# stdin) and on rejected inputs: exit codes and one JSON line per input.
# The field-by-field comparison with the Python codec is tests/firmware.
file(READ "${VECTORS}/ruuvi_format5.json" doc)
string(JSON n LENGTH "${doc}" format5_payloads)
math(EXPR last "${n} - 1")
set(hexes "")
foreach(i RANGE ${last})
  string(JSON hex GET "${doc}" format5_payloads ${i} hex)
  list(APPEND hexes ${hex})
endforeach()

execute_process(COMMAND ${DECODE} decode ${hexes} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ruuvi-decode failed on official vectors (${rc}): ${out}")
endif()
string(REGEX MATCHALL "\n" lines "${out}")
list(LENGTH lines nl)
if(NOT nl EQUAL n)
  message(FATAL_ERROR "expected ${n} lines, got ${nl}: ${out}")
endif()
string(FIND "${out}" "{\"data_format\":5,\"temperature\":24.3,\"humidity\":53.49," pos)
if(NOT pos EQUAL 0)
  message(FATAL_ERROR "first vector printed as: ${out}")
endif()

list(JOIN hexes "\n" stdin_text)
file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/vectors.txt" "${stdin_text}\n\n")
execute_process(COMMAND ${DECODE} -
                INPUT_FILE "${CMAKE_CURRENT_BINARY_DIR}/vectors.txt"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out2)
if(NOT rc EQUAL 0 OR NOT out2 STREQUAL out)
  message(FATAL_ERROR "stdin mode differs (${rc}): ${out2}")
endif()

execute_process(COMMAND ${DECODE} decode 0512 zz ${hexes}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out3)
if(rc EQUAL 0)
  message(FATAL_ERROR "rejected inputs must make the exit status non-zero")
endif()
string(JSON e0 GET "${out3}" error)
string(JSON i0 GET "${out3}" input)
if(NOT i0 STREQUAL "0512" OR e0 STREQUAL "")
  message(FATAL_ERROR "bad error object: ${out3}")
endif()
message(STATUS "ruuvi-decode: ${n} vectors, stdin mode and error objects OK")
