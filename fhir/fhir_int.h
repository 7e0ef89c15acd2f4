/* fhir/fhir_int.h - helpers shared between files of fhir/, private to
 * the module and its tests.
 *
 * fhir/fhirpath.c knows how the JSON format spells choice elements (R4
 * json.html#choice) because FHIRPath reads them; fhir/patch.c writes them
 * and asks the same table rather than keeping a second one.
 */
#ifndef FHIR_FHIR_INT_H
#define FHIR_FHIR_INT_H

#include "fhir/fhir.h"

/* The FHIR type a choice element's JSON name suffix stands for
 * ("DateTime" -> "dateTime", "CodeableConcept" -> "CodeableConcept"): a
 * type of R4's open type list (datatypes.html#open), or NULL. The result
 * is static. */
const char *fhir__choice_type(const char *suffix);

#endif
