/*
 * fp_restore.h - rebuilding the ledger from the record file, so that a
 * fake endpoint killed and restarted (`--record FILE --restore`) still
 * knows every request id and idempotency key it answered, as a real
 * provider's endpoint would after a restart: a client resolving an unknown
 * outcome gets the truth instead of a "not found" that invites a resend.
 */
#ifndef GD_FP_RESTORE_H
#define GD_FP_RESTORE_H

#include "fp_app.h"

/*
 * Reads app->opt->record_path (a missing file is an empty ledger) and adds
 * every stored send to app->store, its record to the in-memory records, and
 * moves the request-id sequence past the highest one seen.  Lines that do
 * not parse are skipped and counted in the log line.  Returns the number of
 * sends restored, or -1 when the file exists but cannot be read.
 */
long fp_restore(struct fp_app *app);

#endif
