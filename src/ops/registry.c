/* The op table: op kind -> record, built from the X-macro list of op_list.h. */
#include "ops/op_list.h"

static const ds_opdef *const op_table[DS_OP_COUNT] = {[DS_OP_INPUT] = &ds__op_input,
                                                      [DS_OP_PARAM] = &ds__op_param,
#define DS__OP_ENTRY(E, n) [DS_OP_##E] = &ds__op_##n,
                                                      DS_OP_LIST(DS__OP_ENTRY)
#undef DS__OP_ENTRY
};

const ds_opdef *ds__opdef(int op) { return op >= 0 && op < DS_OP_COUNT ? op_table[op] : NULL; }
