# Turns each scripts/NAME.lua into `const char gd_script_NAME[]` in OUT.
string(REPLACE "," ";" SCRIPTS "${SCRIPTS}")
file(WRITE ${OUT} "/* generated from common/scripts (NAME.lua) - do not edit */\n")
foreach(script ${SCRIPTS})
  get_filename_component(name ${script} NAME_WE)
  file(READ ${script} body HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${body}")
  file(APPEND ${OUT} "const char gd_script_${name}[] = {${body}0x00};\n")
endforeach()
