#include "errors.h"

const char *err_str(int code)
{
    switch (code) {
#define GD_ERR_MSG(name, value, msg)                                                               \
    case name:                                                                                     \
        return msg;
        GD_ERROR_LIST(GD_ERR_MSG)
#undef GD_ERR_MSG
    }
    return "unknown error";
}

const char *err_name(int code)
{
    switch (code) {
#define GD_ERR_NAME(name, value, msg)                                                              \
    case name:                                                                                     \
        return #name;
        GD_ERROR_LIST(GD_ERR_NAME)
#undef GD_ERR_NAME
    }
    return "GD_EUNKNOWN";
}
