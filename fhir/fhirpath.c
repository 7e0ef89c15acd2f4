/* fhir/fhirpath.c - a compiled subset of FHIRPath, evaluated on cJSON.
 *
 * search/ compiles the `expression` of every SearchParameter once at
 * start-up and evaluates it on each stored resource to get the values it
 * indexes; profiles/ will evaluate invariants the same way. So the work is
 * split: fhir_path_compile() tokenises and parses (FHIRPath N1 grammar,
 * hl7.org/fhirpath) into a flat array of nodes and rejects anything
 * outside the subset, naming it; fhir_path_eval() walks those nodes over
 * the resource's cJSON tree and never fails.
 *
 * Evaluation keeps every intermediate collection on one stack: the
 * caller's result array. Each node pushes its result on top and slides it
 * down over its consumed input, so a caller that reuses its result array
 * evaluates without allocating at all. A compiled path is never written
 * during evaluation and may be shared between threads.
 *
 * Without the StructureDefinitions at hand, types are judged the way the
 * JSON format writes them (R4 json.html): choice elements by their type
 * suffix, everything else by its JSON shape. Values are compared as JSON
 * (strings, numbers, booleans); dates are compared as their strings.
 */
#include "fhir/fhir.h"
#include "fhir/fhir_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest nesting fhir_path_compile() accepts, in parentheses and
 * arguments while parsing and in the height of the compiled tree (which
 * bounds the recursion of evaluation). Real definitions stay below 10. */
#define MAX_NESTING 64

/* ---- types ------------------------------------------------------------ */

/* How values of a type look in JSON (R4 json.html), to judge an item
 * whose type the path alone does not tell. */
typedef enum shape {
    SHAPE_STRING,
    SHAPE_BOOLEAN,
    SHAPE_INTEGER,
    SHAPE_DECIMAL,
    SHAPE_OBJECT,  /* a complex datatype: an object without resourceType */
    SHAPE_RESOURCE /* an object with a resourceType */
} shape;

typedef struct datatype {
    const char *name;   /* FHIR spelling */
    const char *parent; /* the type it specialises, or NULL */
    shape shape;
} datatype;

/* R4 datatypes (datatypes.html, metadatatypes.html); parents as in their
 * StructureDefinition.baseDefinition, Element left out. */
static const datatype datatypes[] = {
    {"base64Binary", NULL, SHAPE_STRING},
    {"boolean", NULL, SHAPE_BOOLEAN},
    {"canonical", "uri", SHAPE_STRING},
    {"code", "string", SHAPE_STRING},
    {"date", NULL, SHAPE_STRING},
    {"dateTime", NULL, SHAPE_STRING},
    {"decimal", NULL, SHAPE_DECIMAL},
    {"id", "string", SHAPE_STRING},
    {"instant", NULL, SHAPE_STRING},
    {"integer", NULL, SHAPE_INTEGER},
    {"markdown", "string", SHAPE_STRING},
    {"oid", "uri", SHAPE_STRING},
    {"positiveInt", "integer", SHAPE_INTEGER},
    {"string", NULL, SHAPE_STRING},
    {"time", NULL, SHAPE_STRING},
    {"unsignedInt", "integer", SHAPE_INTEGER},
    {"uri", NULL, SHAPE_STRING},
    {"url", "uri", SHAPE_STRING},
    {"uuid", "uri", SHAPE_STRING},
    {"xhtml", NULL, SHAPE_STRING},
    {"Address", NULL, SHAPE_OBJECT},
    {"Age", "Quantity", SHAPE_OBJECT},
    {"Annotation", NULL, SHAPE_OBJECT},
    {"Attachment", NULL, SHAPE_OBJECT},
    {"BackboneElement", "Element", SHAPE_OBJECT},
    {"CodeableConcept", NULL, SHAPE_OBJECT},
    {"Coding", NULL, SHAPE_OBJECT},
    {"ContactDetail", NULL, SHAPE_OBJECT},
    {"ContactPoint", NULL, SHAPE_OBJECT},
    {"Contributor", NULL, SHAPE_OBJECT},
    {"Count", "Quantity", SHAPE_OBJECT},
    {"DataRequirement", NULL, SHAPE_OBJECT},
    {"Distance", "Quantity", SHAPE_OBJECT},
    {"Dosage", "BackboneElement", SHAPE_OBJECT},
    {"Duration", "Quantity", SHAPE_OBJECT},
    {"Element", NULL, SHAPE_OBJECT},
    {"Expression", NULL, SHAPE_OBJECT},
    {"Extension", NULL, SHAPE_OBJECT},
    {"HumanName", NULL, SHAPE_OBJECT},
    {"Identifier", NULL, SHAPE_OBJECT},
    {"Meta", NULL, SHAPE_OBJECT},
    {"Money", NULL, SHAPE_OBJECT},
    {"MoneyQuantity", "Quantity", SHAPE_OBJECT},
    {"Narrative", NULL, SHAPE_OBJECT},
    {"ParameterDefinition", NULL, SHAPE_OBJECT},
    {"Period", NULL, SHAPE_OBJECT},
    {"Quantity", NULL, SHAPE_OBJECT},
    {"Range", NULL, SHAPE_OBJECT},
    {"Ratio", NULL, SHAPE_OBJECT},
    {"Reference", NULL, SHAPE_OBJECT},
    {"RelatedArtifact", NULL, SHAPE_OBJECT},
    {"SampledData", NULL, SHAPE_OBJECT},
    {"Signature", NULL, SHAPE_OBJECT},
    {"SimpleQuantity", "Quantity", SHAPE_OBJECT},
    {"Timing", "BackboneElement", SHAPE_OBJECT},
    {"TriggerDefinition", NULL, SHAPE_OBJECT},
    {"UsageContext", NULL, SHAPE_OBJECT},
};

/* R4's open type list (datatypes.html#open): the types a choice element
 * `x[x]` may take, so the only suffixes that can follow a choice
 * element's name in JSON ("occurrence" + "DateTime"). */
static const char *const open_types[] = {
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactPoint",
    "Count",
    "Distance",
    "Duration",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "SampledData",
    "Signature",
    "Timing",
    "ContactDetail",
    "Contributor",
    "DataRequirement",
    "Expression",
    "ParameterDefinition",
    "RelatedArtifact",
    "TriggerDefinition",
    "UsageContext",
    "Dosage",
    "Meta",
};

/* R4 resource types (ValueSet resource-types), sorted for bsearch;
 * includes the abstract Resource and DomainResource. */
static const char *const resource_types[] = {
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "DomainResource",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "Resource",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The table's spelling of resource type s[0..len), or NULL. */
static const char *
resource_find(const char *s, size_t len)
{
    size_t lo = 0;
    size_t hi = COUNT(resource_types);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *t = resource_types[mid];
        int c = (unsigned char)t[0] - (unsigned char)s[0];

        if (c == 0 && len > 0) {
            c = strncmp(t, s, len);
        }
        if (c == 0 && t[len] != '\0') {
            c = 1; /* t is longer, so sorts after s */
        }
        if (c == 0) {
            return t;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static int
resource_sorted(void)
{
    for (size_t i = 1; i < COUNT(resource_types); i++) {
        if (strcmp(resource_types[i - 1], resource_types[i]) >= 0) {
            return 0;
        }
    }
    return 1;
}

static const datatype *
datatype_find(const char *name)
{
    for (size_t i = 0; i < COUNT(datatypes); i++) {
        if (strcmp(datatypes[i].name, name) == 0) {
            return &datatypes[i];
        }
    }
    return NULL;
}

/* R4 resource.html: these three specialise Resource directly; every
 * other concrete resource is a DomainResource. */
static int
domain_resource(const char *rt)
{
    return strcmp(rt, "Bundle") != 0 && strcmp(rt, "Binary") != 0 &&
           strcmp(rt, "Parameters") != 0 && strcmp(rt, "Resource") != 0 &&
           strcmp(rt, "DomainResource") != 0;
}

/* Whether resource type `rt` is `want` or specialises it. */
static int
resource_is(const char *rt, const char *want)
{
    if (strcmp(want, "Resource") == 0) {
        return resource_find(rt, strlen(rt)) != NULL;
    }
    if (strcmp(want, "DomainResource") == 0) {
        return resource_find(rt, strlen(rt)) != NULL && domain_resource(rt);
    }
    return strcmp(rt, want) == 0;
}

/* The type a choice element's JSON name suffix ("DateTime") stands for
 * ("dateTime"), or NULL (declared in fhir_int.h for fhir/patch.c). */
const char *
fhir__choice_type(const char *suffix)
{
    if (suffix[0] < 'A' || suffix[0] > 'Z') {
        return NULL;
    }
    for (size_t i = 0; i < COUNT(open_types); i++) {
        const char *t = open_types[i];
        char first = t[0];

        if (first >= 'a' && first <= 'z') {
            first = (char)(first - 'a' + 'A');
        }
        if (first == suffix[0] && strcmp(t + 1, suffix + 1) == 0) {
            return t;
        }
    }
    return NULL;
}

/* A type named in the expression (ofType, as, is). */
typedef struct ptype {
    const char *name; /* static, or the node's own copy */
    shape shape;
} ptype;

/* ---- compiled form ------------------------------------------------------ */

typedef enum op {
    OP_THIS,      /* $this: the focus */
    OP_LITERAL,   /* lit, or a boolean when lit is NULL */
    OP_TYPE,      /* leading type name: the focus items of that type */
    OP_MEMBER,    /* child elements `name` of the input */
    OP_UNION,     /* operands a, a.next, ...; duplicates dropped */
    OP_AND,       /* a and b */
    OP_OR,        /* a or b */
    OP_EQ,        /* a = b */
    OP_NE,        /* a != b */
    OP_IS,        /* input is type */
    OP_AS,        /* input as type, ofType(type): a filter */
    OP_WHERE,     /* input.where(a) */
    OP_EXISTS,    /* input.exists(a), a optional */
    OP_EMPTY,     /* input.empty() */
    OP_NOT,       /* input.not() */
    OP_FIRST,     /* input.first() */
    OP_RESOLVE,   /* input.resolve(): the type a Reference names */
    OP_EXTENSION, /* input.extension(name) */
    OP_INDEX,     /* input[index]: the item at that position, if any */
} op;

/* What a leading type name (OP_TYPE) accepts. */
typedef enum type_match {
    TYPE_EXACT,  /* resources of that type */
    TYPE_ANY,    /* Resource: any resource */
    TYPE_DOMAIN, /* DomainResource: all but Bundle, Binary, Parameters */
} type_match;

typedef struct pnode {
    op op;
    int input;        /* node giving the input collection; -1: the focus */
    int a, b;         /* operands or argument; -1 when absent */
    int next;         /* the next operand of the union owning this node */
    int height;       /* of the subtree, bounded by MAX_NESTING */
    char *name;       /* member name, type name, extension url; owned */
    size_t len;       /* strlen(name) */
    ptype type;       /* OP_TYPE, OP_IS, OP_AS */
    cJSON *lit;       /* OP_LITERAL string or number; owned */
    int boolean;      /* OP_LITERAL value when lit is NULL */
    type_match match; /* OP_TYPE */
    size_t index;     /* OP_INDEX */
} pnode;

struct fhir_path {
    pnode *nodes;
    size_t n, cap;
    int root;
};

void
fhir_path_free(fhir_path *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        free(p->nodes[i].name);
        cJSON_Delete(p->nodes[i].lit);
    }
    free(p->nodes);
    free(p);
}

/* ---- tokens ------------------------------------------------------------- */

typedef enum tok_kind {
    TOK_EOF,
    TOK_IDENT,    /* name or keyword */
    TOK_QIDENT,   /* `delimited identifier`, never a keyword */
    TOK_STRING,   /* 'text' */
    TOK_NUMBER,   /* 12 or 1.5 */
    TOK_VARIABLE, /* $this, $index */
    TOK_EXTERNAL, /* %resource */
    TOK_DATE,     /* @2024-01-01 */
    TOK_PUNCT     /* operators and brackets */
} tok_kind;

typedef struct token {
    tok_kind kind;
    size_t pos; /* offset in the source */
    size_t len;
} token;

typedef struct parser {
    const char *src;
    size_t pos; /* next byte to read */
    token tok;  /* the current token */
    fhir_path *p;
    fhir_err *err;
    int failed;
    int depth;
} parser;

static int
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void
syntax(parser *ps, size_t pos, const char *what)
{
    if (!ps->failed) {
        fhir_err_set(ps->err, FHIR_ISSUE_INVALID,
                     "FHIRPath syntax error at column %zu: %s", pos + 1, what);
        ps->failed = 1;
    }
}

static void
unsupported(parser *ps, const char *what, const char *s, size_t len)
{
    if (!ps->failed) {
        fhir_err_set(ps->err, FHIR_ISSUE_NOT_SUPPORTED,
                     "FHIRPath %s '%.*s' is not supported", what, (int)len, s);
        ps->failed = 1;
    }
}

/* Skips whitespace and comments (FHIRPath allows both between tokens). */
static void
skip_blank(parser *ps)
{
    const char *s = ps->src;

    for (;;) {
        char c = s[ps->pos];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ps->pos++;
        } else if (c == '/' && s[ps->pos + 1] == '/') {
            while (s[ps->pos] != '\0' && s[ps->pos] != '\n') {
                ps->pos++;
            }
        } else if (c == '/' && s[ps->pos + 1] == '*') {
            const char *end = strstr(s + ps->pos + 2, "*/");

            if (end == NULL) {
                syntax(ps, ps->pos, "unterminated comment");
                ps->pos += strlen(s + ps->pos);
                return;
            }
            ps->pos = (size_t)(end - s) + 2;
        } else {
            return;
        }
    }
}

/* Reads the next token into ps->tok; a bad one sets the error and reads
 * as end of input. */
static void
lex(parser *ps)
{
    static const char *const puncts[] = {
        "!=", "!~", "<=", ">=", ".", "(", ")", ",", "|", "=", "~",
        "<",  ">",  "+",  "-",  "*", "/", "&", "[", "]", "{", "}",
    };
    const char *s = ps->src;
    size_t start;

    skip_blank(ps);
    start = ps->pos;
    ps->tok.pos = start;
    ps->tok.kind = TOK_EOF;
    if (s[start] == '\0' || ps->failed) {
        ps->tok.len = 0;
        return;
    }
    if (is_alpha(s[start])) {
        while (is_alpha(s[ps->pos]) || is_digit(s[ps->pos])) {
            ps->pos++;
        }
        ps->tok.kind = TOK_IDENT;
    } else if (is_digit(s[start])) {
        while (is_digit(s[ps->pos])) {
            ps->pos++;
        }
        if (s[ps->pos] == '.' && is_digit(s[ps->pos + 1])) {
            ps->pos++;
            while (is_digit(s[ps->pos])) {
                ps->pos++;
            }
        }
        ps->tok.kind = TOK_NUMBER;
    } else if (s[start] == '\'' || s[start] == '`') {
        char q = s[start];

        ps->pos++;
        while (s[ps->pos] != q) {
            if (s[ps->pos] == '\0') {
                syntax(ps, start, "unterminated string or identifier");
                ps->tok.len = 0;
                return;
            }
            if (s[ps->pos] == '\\' && s[ps->pos + 1] != '\0') {
                ps->pos++;
            }
            ps->pos++;
        }
        ps->pos++;
        ps->tok.kind = q == '\'' ? TOK_STRING : TOK_QIDENT;
    } else if (s[start] == '$' || s[start] == '%' || s[start] == '@') {
        ps->pos++;
        while (is_alpha(s[ps->pos]) || is_digit(s[ps->pos]) ||
               (s[start] == '@' && strchr("-:.+TZ", s[ps->pos]) != NULL &&
                s[ps->pos] != '\0')) {
            ps->pos++;
        }
        ps->tok.kind = s[start] == '$'   ? TOK_VARIABLE
                       : s[start] == '%' ? TOK_EXTERNAL
                                         : TOK_DATE;
    } else {
        for (size_t i = 0; i < COUNT(puncts); i++) {
            size_t n = strlen(puncts[i]);

            if (strncmp(s + start, puncts[i], n) == 0) {
                ps->pos += n;
                ps->tok.kind = TOK_PUNCT;
                break;
            }
        }
        if (ps->tok.kind == TOK_EOF) {
            syntax(ps, start, "unexpected character");
            ps->tok.len = 0;
            return;
        }
    }
    ps->tok.len = ps->pos - start;
}

/* Whether the current token is the punctuation or keyword `text`. */
static int
tok_is(const parser *ps, const char *text)
{
    size_t n = strlen(text);

    return (ps->tok.kind == TOK_PUNCT || ps->tok.kind == TOK_IDENT) &&
           ps->tok.len == n && strncmp(ps->src + ps->tok.pos, text, n) == 0;
}

/* Whether the token after the current one is the punctuation `text`. */
static int
peek_is(parser *ps, const char *text)
{
    size_t pos = ps->pos;
    token tok = ps->tok;
    int yes;

    lex(ps);
    yes = tok_is(ps, text);
    ps->pos = pos;
    ps->tok = tok;
    return yes;
}

static int
expect(parser *ps, const char *text)
{
    if (!tok_is(ps, text)) {
        char what[32];

        snprintf(what, sizeof(what), "expected '%s'", text);
        syntax(ps, ps->tok.pos, what);
        return -1;
    }
    lex(ps);
    return 0;
}

static int
hex_value(const char *s)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];

        v <<= 4;
        if (is_digit(c)) {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            return -1;
        }
    }
    return v;
}

static void
put_utf8(fhir_buf *b, unsigned cp)
{
    if (cp < 0x80) {
        fhir_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        fhir_buf_putc(b, (char)(0xC0 | (cp >> 6)));
        fhir_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        fhir_buf_putc(b, (char)(0xE0 | (cp >> 12)));
        fhir_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        fhir_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        fhir_buf_putc(b, (char)(0xF0 | (cp >> 18)));
        fhir_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        fhir_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        fhir_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* The text of the current quoted token with its escapes decoded
 * (FHIRPath N1 section "String"), malloc'd; NULL after a syntax error. */
static char *
unquote(parser *ps)
{
    fhir_buf b = FHIR_BUF_INIT;
    const char *s = ps->src + ps->tok.pos + 1;
    const char *end = ps->src + ps->tok.pos + ps->tok.len - 1;

    fhir_buf_append(&b, "", 0);
    while (s < end) {
        const char *esc = s;
        int cp;

        if (*s != '\\') {
            fhir_buf_putc(&b, *s++);
            continue;
        }
        s++;
        switch (*s++) {
        case '\'':
        case '"':
        case '`':
        case '\\':
        case '/':
            fhir_buf_putc(&b, s[-1]);
            break;
        case 'f':
            fhir_buf_putc(&b, '\f');
            break;
        case 'n':
            fhir_buf_putc(&b, '\n');
            break;
        case 'r':
            fhir_buf_putc(&b, '\r');
            break;
        case 't':
            fhir_buf_putc(&b, '\t');
            break;
        case 'u':
            cp = -1;
            if (end - s >= 4) {
                cp = hex_value(s);
                s += 4;
            }
            /* A surrogate pair spells one character beyond the BMP. */
            if (cp >= 0xD800 && cp < 0xDC00 && end - s >= 6 && s[0] == '\\' &&
                s[1] == 'u') {
                int lo = hex_value(s + 2);

                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                }
            }
            if (cp <= 0 || (cp >= 0xD800 && cp < 0xE000)) {
                syntax(ps, (size_t)(esc - ps->src), "bad \\u escape");
                fhir_buf_clear(&b);
                return NULL;
            }
            put_utf8(&b, (unsigned)cp);
            break;
        default:
            syntax(ps, (size_t)(esc - ps->src), "unknown escape");
            fhir_buf_clear(&b);
            return NULL;
        }
    }
    return fhir_buf_take(&b, NULL);
}

/* ---- parser ------------------------------------------------------------- */

static int
height_of(const fhir_path *p, int i)
{
    return i >= 0 ? p->nodes[i].height : 0;
}

/* Appends a node; its height is one more than its tallest child's. */
static int
node_new(parser *ps, op o, int input, int a, int b)
{
    fhir_path *p = ps->p;
    pnode *nd;
    int h = height_of(p, input);

    if (height_of(p, a) > h) {
        h = height_of(p, a);
    }
    if (height_of(p, b) > h) {
        h = height_of(p, b);
    }
    if (h + 1 > MAX_NESTING) {
        if (!ps->failed) {
            fhir_err_set(ps->err, FHIR_ISSUE_NOT_SUPPORTED,
                         "FHIRPath expression nested deeper than %d",
                         MAX_NESTING);
            ps->failed = 1;
        }
        return -1;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->nodes = fhir_xrealloc(p->nodes, p->cap * sizeof(*p->nodes));
    }
    nd = &p->nodes[p->n];
    memset(nd, 0, sizeof(*nd));
    nd->op = o;
    nd->input = input;
    nd->a = a;
    nd->b = b;
    nd->next = -1;
    nd->height = h + 1;
    return (int)p->n++;
}

/* A node named by the current token (identifier, quoted identifier or
 * string), which it consumes. */
static int
node_named(parser *ps, op o, int input)
{
    char *name;
    int i;

    if (ps->tok.kind == TOK_IDENT) {
        name = fhir_xstrndup(ps->src + ps->tok.pos, ps->tok.len);
    } else {
        name = unquote(ps);
    }
    if (name == NULL) {
        return -1;
    }
    i = node_new(ps, o, input, -1, -1);
    if (i < 0) {
        free(name);
        return -1;
    }
    ps->p->nodes[i].name = name;
    ps->p->nodes[i].len = strlen(name);
    lex(ps);
    return i;
}

static int parse_or(parser *ps);

/* typeSpecifier: a FHIR type, optionally qualified "FHIR.Patient". Sets
 * node i's type. */
static int
parse_type_spec(parser *ps, int i)
{
    pnode *nd;
    const char *name;
    const datatype *dt;

    if (ps->tok.kind == TOK_IDENT && tok_is(ps, "System") && peek_is(ps, ".")) {
        unsupported(ps, "type namespace", "System", 6);
        return -1;
    }
    if (ps->tok.kind == TOK_IDENT && tok_is(ps, "FHIR") && peek_is(ps, ".")) {
        lex(ps);
        lex(ps);
    }
    if (ps->tok.kind != TOK_IDENT && ps->tok.kind != TOK_QIDENT) {
        syntax(ps, ps->tok.pos, "expected a type name");
        return -1;
    }
    nd = &ps->p->nodes[i];
    nd->name = ps->tok.kind == TOK_IDENT
                   ? fhir_xstrndup(ps->src + ps->tok.pos, ps->tok.len)
                   : unquote(ps);
    if (nd->name == NULL) {
        return -1;
    }
    nd->len = strlen(nd->name);
    name = resource_find(nd->name, nd->len);
    dt = datatype_find(nd->name);
    if (name != NULL) {
        nd->type.name = name;
        nd->type.shape = SHAPE_RESOURCE;
    } else if (dt != NULL) {
        nd->type.name = dt->name;
        nd->type.shape = dt->shape;
    } else if (nd->name[0] >= 'A' && nd->name[0] <= 'Z') {
        /* A datatype missing from the table (ElementDefinition, ...). */
        nd->type.name = nd->name;
        nd->type.shape = SHAPE_OBJECT;
    } else {
        syntax(ps, ps->tok.pos, "unknown FHIR type");
        return -1;
    }
    lex(ps);
    return 0;
}

typedef enum arg_kind { ARG_NONE, ARG_EXPR, ARG_TYPE, ARG_STRING } arg_kind;

static const struct function {
    const char *name;
    op op;
    int min_args; /* max is 1 (ARG_NONE: 0) */
    arg_kind arg;
} functions[] = {
    {"where", OP_WHERE, 1, ARG_EXPR},
    {"exists", OP_EXISTS, 0, ARG_EXPR},
    {"empty", OP_EMPTY, 0, ARG_NONE},
    {"not", OP_NOT, 0, ARG_NONE},
    {"first", OP_FIRST, 0, ARG_NONE},
    {"ofType", OP_AS, 1, ARG_TYPE},
    {"as", OP_AS, 1, ARG_TYPE},
    {"is", OP_IS, 1, ARG_TYPE},
    {"resolve", OP_RESOLVE, 0, ARG_NONE},
    {"extension", OP_EXTENSION, 1, ARG_STRING},
};

/* function: name '(' [argument] ')', applied to `input`. The current
 * token is the name. */
static int
parse_call(parser *ps, int input)
{
    const struct function *fn = NULL;
    const char *name = ps->src + ps->tok.pos;
    size_t len = ps->tok.len;
    size_t at = ps->tok.pos;
    int i;
    int nargs = 0;

    for (size_t k = 0; k < COUNT(functions); k++) {
        if (strlen(functions[k].name) == len &&
            strncmp(functions[k].name, name, len) == 0) {
            fn = &functions[k];
        }
    }
    if (fn == NULL) {
        unsupported(ps, "function", name, len);
        return -1;
    }
    i = node_new(ps, fn->op, input, -1, -1);
    if (i < 0) {
        return -1;
    }
    lex(ps); /* the name */
    lex(ps); /* ( */
    if (!tok_is(ps, ")")) {
        nargs = 1;
        if (fn->arg == ARG_EXPR) {
            int a = parse_or(ps);

            if (a < 0) {
                return -1;
            }
            ps->p->nodes[i].a = a;
            if (height_of(ps->p, a) + 1 > ps->p->nodes[i].height) {
                ps->p->nodes[i].height = height_of(ps->p, a) + 1;
            }
            if (ps->p->nodes[i].height > MAX_NESTING) {
                fhir_err_set(ps->err, FHIR_ISSUE_NOT_SUPPORTED,
                             "FHIRPath expression nested deeper than %d",
                             MAX_NESTING);
                ps->failed = 1;
                return -1;
            }
        } else if (fn->arg == ARG_TYPE) {
            if (parse_type_spec(ps, i) < 0) {
                return -1;
            }
        } else if (fn->arg == ARG_STRING && ps->tok.kind == TOK_STRING) {
            pnode *nd = &ps->p->nodes[i];

            nd->name = unquote(ps);
            if (nd->name == NULL) {
                return -1;
            }
            nd->len = strlen(nd->name);
            lex(ps);
        } else if (fn->arg == ARG_STRING) {
            unsupported(ps, "argument of", name, len);
            return -1;
        } else {
            nargs = 2; /* anything: too many */
        }
        if (tok_is(ps, ",")) {
            nargs = 2;
        }
    }
    if (nargs < fn->min_args || nargs > (fn->arg == ARG_NONE ? 0 : 1)) {
        char what[64];

        snprintf(what, sizeof(what), "wrong number of arguments to %s()",
                 fn->name);
        syntax(ps, at, what);
        return -1;
    }
    if (expect(ps, ")") < 0) {
        return -1;
    }
    return i;
}

/* term: literal, $this, (expression), function call, identifier. */
static int
parse_term(parser *ps)
{
    const char *s = ps->src + ps->tok.pos;
    size_t len = ps->tok.len;
    int i;

    switch (ps->tok.kind) {
    case TOK_IDENT:
        if (tok_is(ps, "true") || tok_is(ps, "false")) {
            i = node_new(ps, OP_LITERAL, -1, -1, -1);
            if (i >= 0) {
                ps->p->nodes[i].boolean = tok_is(ps, "true");
                lex(ps);
            }
            return i;
        }
        if (peek_is(ps, "(")) {
            return parse_call(ps, -1);
        }
        /* fall through */
    case TOK_QIDENT:
        /* Element names are lower camel case; a capitalised first step
         * names the type of the context (FHIRPath N1 "Path selection"). */
        if (s[0] == '`') {
            s++;
        }
        if (s[0] >= 'A' && s[0] <= 'Z') {
            pnode *nd;

            i = node_named(ps, OP_TYPE, -1);
            if (i < 0) {
                return -1;
            }
            nd = &ps->p->nodes[i];
            nd->type.shape = SHAPE_RESOURCE;
            nd->type.name = resource_find(nd->name, nd->len);
            if (nd->type.name == NULL) {
                nd->type.name = nd->name;
            }
            nd->match = strcmp(nd->name, "Resource") == 0         ? TYPE_ANY
                        : strcmp(nd->name, "DomainResource") == 0 ? TYPE_DOMAIN
                                                                  : TYPE_EXACT;
            return i;
        }
        return node_named(ps, OP_MEMBER, -1);
    case TOK_STRING:
        i = node_new(ps, OP_LITERAL, -1, -1, -1);
        if (i >= 0) {
            char *text = unquote(ps);

            if (text == NULL) {
                return -1;
            }
            ps->p->nodes[i].lit = cJSON_CreateString(text);
            ps->p->nodes[i].name = text;
            ps->p->nodes[i].len = strlen(text);
            ps->p->nodes[i].type.name = "string";
            lex(ps);
        }
        return i;
    case TOK_NUMBER:
        i = node_new(ps, OP_LITERAL, -1, -1, -1);
        if (i >= 0) {
            pnode *nd = &ps->p->nodes[i];

            nd->name = fhir_xstrndup(s, len);
            nd->len = len;
            nd->lit = fhir_json_number(nd->name);
            if (nd->lit == NULL) {
                /* JSON forbids the leading zeros FHIRPath allows. */
                nd->lit = cJSON_CreateNumber(strtod(nd->name, NULL));
            }
            nd->type.name = memchr(s, '.', len) ? "decimal" : "integer";
            lex(ps);
            if (ps->tok.kind == TOK_STRING) {
                unsupported(ps, "quantity literal", s,
                            ps->tok.pos + ps->tok.len - (size_t)(s - ps->src));
                return -1;
            }
        }
        return i;
    case TOK_VARIABLE:
        if (len != 5 || strncmp(s, "$this", 5) != 0) {
            unsupported(ps, "variable", s, len);
            return -1;
        }
        i = node_new(ps, OP_THIS, -1, -1, -1);
        lex(ps);
        return i;
    case TOK_EXTERNAL:
        unsupported(ps, "environment variable", s, len);
        return -1;
    case TOK_DATE:
        unsupported(ps, "date/time literal", s, len);
        return -1;
    case TOK_PUNCT:
        if (tok_is(ps, "(")) {
            lex(ps);
            i = parse_or(ps);
            if (i < 0 || expect(ps, ")") < 0) {
                return -1;
            }
            return i;
        }
        if (tok_is(ps, "{") || tok_is(ps, "+") || tok_is(ps, "-")) {
            unsupported(ps, tok_is(ps, "{") ? "empty collection" : "operator",
                        s, len);
            return -1;
        }
        break;
    case TOK_EOF:
        break;
    }
    syntax(ps, ps->tok.pos, "expected an expression");
    return -1;
}

/* indexer: '[' integer ']' applied to `input`, the current token being
 * the '['. FHIRPath allows any integer expression as the index; the
 * subset takes a literal, which is what paths into lists (FHIRPath Patch,
 * "Task.input[1].value") write. */
static int
parse_indexer(parser *ps, int input)
{
    const char *s;
    size_t index = 0;
    int i;

    lex(ps);
    s = ps->src + ps->tok.pos;
    if (tok_is(ps, "]") || ps->tok.kind == TOK_EOF) {
        syntax(ps, ps->tok.pos, "expected an index");
        return -1;
    }
    if (ps->tok.kind != TOK_NUMBER) {
        unsupported(ps, "index expression", s, ps->tok.len);
        return -1;
    }
    for (size_t k = 0; k < ps->tok.len; k++) {
        if (!is_digit(s[k]) || index > (SIZE_MAX - 9) / 10) {
            syntax(ps, ps->tok.pos, "index must be a small whole number");
            return -1;
        }
        index = index * 10 + (size_t)(s[k] - '0');
    }
    i = node_new(ps, OP_INDEX, input, -1, -1);
    if (i < 0) {
        return -1;
    }
    ps->p->nodes[i].index = index;
    lex(ps);
    if (expect(ps, "]") < 0) {
        return -1;
    }
    return i;
}

/* invocation chain: term ('.' (identifier | function) | indexer)* */
static int
parse_invocation(parser *ps)
{
    int i = parse_term(ps);

    while (i >= 0 && !ps->failed) {
        if (tok_is(ps, "[")) {
            i = parse_indexer(ps, i);
            continue;
        }
        if (!tok_is(ps, ".")) {
            break;
        }
        lex(ps);
        if (ps->tok.kind == TOK_IDENT && peek_is(ps, "(")) {
            i = parse_call(ps, i);
        } else if (ps->tok.kind == TOK_IDENT || ps->tok.kind == TOK_QIDENT) {
            i = node_named(ps, OP_MEMBER, i);
        } else {
            syntax(ps, ps->tok.pos, "expected a name after '.'");
            return -1;
        }
    }
    return ps->failed ? -1 : i;
}

/* Operators outside the subset: reported by name rather than as syntax
 * errors, so that definitions using them are recognised as such. */
static int
check_unsupported_operator(parser *ps)
{
    static const char *const ops[] = {
        "+", "-",  "*",   "/",   "&",  "<",        ">",   "<=",      ">=",
        "~", "!~", "div", "mod", "in", "contains", "xor", "implies",
    };

    for (size_t k = 0; k < COUNT(ops); k++) {
        if (tok_is(ps, ops[k])) {
            unsupported(ps, "operator", ops[k], strlen(ops[k]));
            return -1;
        }
    }
    return 0;
}

/* type expression: invocation (('is' | 'as') typeSpecifier)* */
static int
parse_type_op(parser *ps)
{
    int i = parse_invocation(ps);

    while (i >= 0 && ps->tok.kind == TOK_IDENT &&
           (tok_is(ps, "is") || tok_is(ps, "as"))) {
        i = node_new(ps, tok_is(ps, "is") ? OP_IS : OP_AS, i, -1, -1);
        if (i < 0) {
            return -1;
        }
        lex(ps);
        if (parse_type_spec(ps, i) < 0) {
            return -1;
        }
    }
    if (i >= 0 && check_unsupported_operator(ps) < 0) {
        return -1;
    }
    return i;
}

/* union: type ('|' type)*, one node for the whole chain so that long
 * multi-resource unions do not nest. */
static int
parse_union(parser *ps)
{
    int first = parse_type_op(ps);
    int u, last;

    if (first < 0 || !tok_is(ps, "|")) {
        return first;
    }
    u = node_new(ps, OP_UNION, -1, first, -1);
    last = first;
    while (u >= 0 && tok_is(ps, "|")) {
        int k;

        lex(ps);
        k = parse_type_op(ps);
        if (k < 0) {
            return -1;
        }
        ps->p->nodes[last].next = k;
        last = k;
        if (ps->p->nodes[k].height + 1 > ps->p->nodes[u].height) {
            ps->p->nodes[u].height = ps->p->nodes[k].height + 1;
        }
    }
    return u;
}

/* Left-associative binary operators of one precedence level. */
static int
parse_binary(parser *ps, int (*operand)(parser *), const char *const *words,
             const op *ops, size_t nwords)
{
    int i = operand(ps);

    while (i >= 0) {
        size_t k = 0;
        int r;

        while (k < nwords && !tok_is(ps, words[k])) {
            k++;
        }
        if (k == nwords) {
            break;
        }
        lex(ps);
        r = operand(ps);
        if (r < 0) {
            return -1;
        }
        i = node_new(ps, ops[k], -1, i, r);
    }
    return i;
}

static int
parse_equality(parser *ps)
{
    static const char *const words[] = {"=", "!="};
    static const op ops[] = {OP_EQ, OP_NE};

    return parse_binary(ps, parse_union, words, ops, 2);
}

static int
parse_and(parser *ps)
{
    static const char *const words[] = {"and"};
    static const op ops[] = {OP_AND};

    return parse_binary(ps, parse_equality, words, ops, 1);
}

/* expression: the lowest precedence level, and the one parentheses and
 * arguments recurse into. */
static int
parse_or(parser *ps)
{
    static const char *const words[] = {"or"};
    static const op ops[] = {OP_OR};
    int i;

    if (++ps->depth > MAX_NESTING) {
        if (!ps->failed) {
            fhir_err_set(ps->err, FHIR_ISSUE_NOT_SUPPORTED,
                         "FHIRPath expression nested deeper than %d",
                         MAX_NESTING);
            ps->failed = 1;
        }
        return -1;
    }
    i = parse_binary(ps, parse_and, words, ops, 1);
    ps->depth--;
    return ps->failed ? -1 : i;
}

int
fhir_path_compile(fhir_path **out, const char *expr, fhir_err *err)
{
    parser ps;
    int rc = -1;

    assert(out != NULL && expr != NULL);
    assert(resource_sorted());
    *out = NULL;
    memset(&ps, 0, sizeof(ps));
    ps.src = expr;
    ps.err = err;
    ps.p = fhir_xcalloc(1, sizeof(*ps.p));
    lex(&ps);
    ps.p->root = parse_or(&ps);
    if (ps.p->root < 0 || ps.failed) {
        goto done;
    }
    if (ps.tok.kind != TOK_EOF) {
        syntax(&ps, ps.tok.pos, "unexpected text after the expression");
        goto done;
    }
    *out = ps.p;
    ps.p = NULL;
    rc = 0;
done:
    if (rc != 0 && !ps.failed) {
        fhir_err_set(err, FHIR_ISSUE_INVALID, "FHIRPath syntax error");
    }
    fhir_path_free(ps.p);
    return rc;
}

/* ---- evaluation --------------------------------------------------------- */

static void
push(fhir_path_result *r, const cJSON *node, const char *type, int boolean)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->items = fhir_xrealloc(r->items, r->cap * sizeof(*r->items));
    }
    r->items[r->n].node = node;
    r->items[r->n].type = type;
    r->items[r->n].boolean = boolean;
    r->n++;
}

static void
push_bool(fhir_path_result *r, int v)
{
    push(r, NULL, "boolean", v != 0);
}

/* Pushes a member's value: each element of an array (nulls only align
 * primitive extensions, R4 json.html#primitive), or the value itself. */
static void
push_value(fhir_path_result *r, const cJSON *v, const char *type)
{
    if (cJSON_IsArray(v)) {
        for (const cJSON *c = v->child; c != NULL; c = c->next) {
            if (!cJSON_IsNull(c)) {
                push(r, c, type, 0);
            }
        }
    } else if (!cJSON_IsNull(v)) {
        push(r, v, type, 0);
    }
}

/* Pushes member `name` of `obj`, or when it is absent the members that
 * spell choice element name[x] (R4 formats.html#choice). */
static void
push_member(fhir_path_result *r, const cJSON *obj, const char *name, size_t len)
{
    const cJSON *choice = NULL;

    if (!cJSON_IsObject(obj)) {
        return;
    }
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        if (c->string == NULL || c->string[0] != name[0] ||
            strncmp(c->string, name, len) != 0) {
            continue;
        }
        if (c->string[len] == '\0') {
            push_value(r, c, NULL);
            return;
        }
        if (choice == NULL) {
            choice = c;
        }
    }
    for (const cJSON *c = choice; c != NULL; c = c->next) {
        const char *t;

        if (c->string == NULL || strncmp(c->string, name, len) != 0) {
            continue;
        }
        t = fhir__choice_type(c->string + len);
        if (t != NULL) {
            push_value(r, c, t);
        }
    }
}

/* Whether an item of unknown type looks like a `want` in JSON. */
static int
shape_fits(const cJSON *node, const ptype *want)
{
    const char *rt;

    switch (want->shape) {
    case SHAPE_STRING:
        return cJSON_IsString(node);
    case SHAPE_BOOLEAN:
        return node == NULL || cJSON_IsBool(node);
    case SHAPE_DECIMAL:
        return cJSON_IsNumber(node);
    case SHAPE_INTEGER:
        if (!cJSON_IsNumber(node)) {
            return 0;
        }
        if (node->valuestring != NULL
                ? strpbrk(node->valuestring, ".eE") != NULL
                : node->valuedouble != (double)(long long)node->valuedouble) {
            return 0;
        }
        if (strcmp(want->name, "positiveInt") == 0) {
            return node->valuedouble > 0;
        }
        if (strcmp(want->name, "unsignedInt") == 0) {
            return node->valuedouble >= 0;
        }
        return 1;
    case SHAPE_OBJECT:
        return cJSON_IsObject(node) &&
               cJSON_GetObjectItemCaseSensitive(node, "resourceType") == NULL;
    case SHAPE_RESOURCE:
        rt = cJSON_IsObject(node) ? fhir_json_str(node, "resourceType") : NULL;
        return rt != NULL && resource_is(rt, want->name);
    }
    return 0;
}

/* FHIRPath `is`: the item's type is `want` or specialises it. */
static int
item_is(const fhir_path_item *it, const ptype *want)
{
    const char *have = it->type;

    if (have == NULL) {
        return shape_fits(it->node, want);
    }
    if (want->shape == SHAPE_RESOURCE) {
        return resource_is(have, want->name);
    }
    for (int hops = 0; have != NULL && hops < 4; hops++) {
        const datatype *dt;

        if (strcmp(have, want->name) == 0) {
            return 1;
        }
        dt = datatype_find(have);
        have = dt != NULL ? dt->parent : NULL;
    }
    return 0;
}

/* The resource type a Reference.reference names ("Patient/1",
 * "http://h/fhir/Patient/1/_history/2"), or NULL for contained, urn:,
 * conditional and unparseable references (fhir_ref_parse() decides, as it
 * does for search/). */
static const char *
reference_type(const char *ref)
{
    fhir_ref parsed;
    const char *type;
    fhir_ref_kind k = fhir_ref_parse(&parsed, ref);

    if (k != FHIR_REF_RELATIVE && k != FHIR_REF_ABSOLUTE) {
        return NULL;
    }
    type = resource_find(parsed.type, strlen(parsed.type));
    if (type == NULL || strcmp(type, "Resource") == 0 ||
        strcmp(type, "DomainResource") == 0) {
        return NULL;
    }
    return type;
}

typedef enum kind { KIND_BOOLEAN, KIND_STRING, KIND_NUMBER, KIND_OTHER } kind;

static kind
item_kind(const fhir_path_item *it)
{
    if (it->node == NULL || cJSON_IsBool(it->node)) {
        return KIND_BOOLEAN;
    }
    if (cJSON_IsString(it->node)) {
        return KIND_STRING;
    }
    if (cJSON_IsNumber(it->node)) {
        return KIND_NUMBER;
    }
    return KIND_OTHER;
}

static int
item_bool(const fhir_path_item *it)
{
    return it->node == NULL ? it->boolean : cJSON_IsTrue(it->node);
}

/* FHIRPath `=` on two single items; values of different kinds are
 * unequal. */
static int
item_equal(const fhir_path_item *x, const fhir_path_item *y)
{
    kind k = item_kind(x);

    if (k != item_kind(y)) {
        return 0;
    }
    switch (k) {
    case KIND_BOOLEAN:
        return item_bool(x) == item_bool(y);
    case KIND_STRING:
        return strcmp(x->node->valuestring, y->node->valuestring) == 0;
    case KIND_NUMBER:
        return x->node->valuedouble == y->node->valuedouble;
    case KIND_OTHER:
        break;
    }
    return cJSON_Compare(x->node, y->node, 1);
}

/* Singleton evaluation of collections (FHIRPath N1 section 4.5) over
 * items [from, to): 1 or 0 for a single boolean, 1 for any other single
 * item, -1 (unknown) when empty or plural. */
static int
to_bool(const fhir_path_result *r, size_t from, size_t to)
{
    if (to - from != 1) {
        return -1;
    }
    if (item_kind(&r->items[from]) != KIND_BOOLEAN) {
        return 1;
    }
    return item_bool(&r->items[from]);
}

/* Whether items[i] repeats one of items[lo, hi): the same node, or the
 * same computed boolean. */
static int
seen(const fhir_path_result *r, size_t lo, size_t hi, size_t i)
{
    const fhir_path_item *it = &r->items[i];

    for (size_t k = lo; k < hi; k++) {
        const fhir_path_item *o = &r->items[k];

        if (o->node == it->node &&
            (it->node != NULL || o->boolean == it->boolean)) {
            return 1;
        }
    }
    return 0;
}

static void eval(const fhir_path *p, int ni, fhir_path_result *r, size_t flo,
                 size_t fhi);

/* Runs criteria `ni` with item i as its focus; 1, 0 or -1 (unknown). */
static int
criteria(const fhir_path *p, int ni, fhir_path_result *r, size_t i)
{
    size_t mark = r->n;
    int v;

    eval(p, ni, r, i, i + 1);
    v = to_bool(r, mark, r->n);
    r->n = mark;
    return v;
}

/* Evaluates node ni with the focus items [flo, fhi) of r and appends its
 * result to r. Recursion is bounded by the tree's height (MAX_NESTING).
 * Pushing may move r->items, so items are addressed by index. */
static void
eval(const fhir_path *p, int ni, fhir_path_result *r, size_t flo, size_t fhi)
{
    const pnode *nd = &p->nodes[ni];
    size_t base = r->n;
    size_t lo = flo, hi = fhi, top;
    int x, y;

    if (nd->input >= 0) {
        eval(p, nd->input, r, flo, fhi);
        lo = base;
        hi = r->n;
    }
    top = r->n;
    switch (nd->op) {
    case OP_THIS:
        for (size_t i = lo; i < hi; i++) {
            fhir_path_item it = r->items[i];

            push(r, it.node, it.type, it.boolean);
        }
        break;
    case OP_LITERAL:
        if (nd->lit != NULL) {
            push(r, nd->lit, nd->type.name, 0);
        } else {
            push_bool(r, nd->boolean);
        }
        break;
    case OP_TYPE:
        for (size_t i = lo; i < hi; i++) {
            const cJSON *node = r->items[i].node;
            const char *rt = cJSON_IsObject(node)
                                 ? fhir_json_str(node, "resourceType")
                                 : NULL;
            const char *t = NULL;

            if (rt == NULL) {
                continue;
            }
            if (nd->match == TYPE_EXACT) {
                t = strcmp(rt, nd->type.name) == 0 ? nd->type.name : NULL;
            } else {
                t = resource_find(rt, strlen(rt));
                if (t != NULL && nd->match == TYPE_DOMAIN &&
                    !domain_resource(t)) {
                    t = NULL;
                }
            }
            if (t != NULL) {
                push(r, node, t, 0);
            }
        }
        break;
    case OP_MEMBER:
        for (size_t i = lo; i < hi; i++) {
            push_member(r, r->items[i].node, nd->name, nd->len);
        }
        break;
    case OP_UNION:
        for (int k = nd->a; k >= 0; k = p->nodes[k].next) {
            size_t start = r->n;
            size_t keep = start;

            eval(p, k, r, lo, hi);
            if (start == top) {
                continue; /* nothing earlier to repeat */
            }
            for (size_t i = start; i < r->n; i++) {
                if (!seen(r, top, start, i)) {
                    r->items[keep++] = r->items[i];
                }
            }
            r->n = keep;
        }
        break;
    case OP_AND:
    case OP_OR:
        /* Three-valued logic (FHIRPath N1 section 6.5): empty is unknown,
         * and the right side is skipped when the left decides. */
        eval(p, nd->a, r, lo, hi);
        x = to_bool(r, top, r->n);
        r->n = top;
        if (x == (nd->op == OP_OR)) {
            push_bool(r, x);
            break;
        }
        eval(p, nd->b, r, lo, hi);
        y = to_bool(r, top, r->n);
        r->n = top;
        if (y == (nd->op == OP_OR)) {
            push_bool(r, y);
        } else if (x >= 0 && y >= 0) {
            push_bool(r, x);
        }
        break;
    case OP_EQ:
    case OP_NE: {
        size_t mid, nl, nr;
        int eq = 1;

        eval(p, nd->a, r, lo, hi);
        mid = r->n;
        eval(p, nd->b, r, lo, hi);
        nl = mid - top;
        nr = r->n - mid;
        if (nl > 0 && nr > 0) {
            /* Collections are equal item by item, in order. */
            eq = nl == nr;
            for (size_t i = 0; eq && i < nl; i++) {
                eq = item_equal(&r->items[top + i], &r->items[mid + i]);
            }
        }
        r->n = top;
        if (nl > 0 && nr > 0) {
            push_bool(r, nd->op == OP_EQ ? eq : !eq);
        }
        break;
    }
    case OP_IS:
        if (hi - lo == 1) {
            push_bool(r, item_is(&r->items[lo], &nd->type));
        }
        break;
    case OP_AS:
        for (size_t i = lo; i < hi; i++) {
            if (item_is(&r->items[i], &nd->type)) {
                fhir_path_item it = r->items[i];

                if (it.type == NULL && nd->type.shape == SHAPE_RESOURCE) {
                    /* ofType(Resource) still learns the concrete type. */
                    const char *rt = fhir_json_str(it.node, "resourceType");

                    it.type = resource_find(rt, strlen(rt));
                }
                push(r, it.node, it.type != NULL ? it.type : nd->type.name,
                     it.boolean);
            }
        }
        break;
    case OP_WHERE:
        for (size_t i = lo; i < hi; i++) {
            if (criteria(p, nd->a, r, i) == 1) {
                fhir_path_item it = r->items[i];

                push(r, it.node, it.type, it.boolean);
            }
        }
        break;
    case OP_EXISTS:
        x = nd->a < 0 && hi > lo;
        for (size_t i = lo; nd->a >= 0 && !x && i < hi; i++) {
            x = criteria(p, nd->a, r, i) == 1;
        }
        push_bool(r, x);
        break;
    case OP_EMPTY:
        push_bool(r, hi == lo);
        break;
    case OP_NOT:
        x = to_bool(r, lo, hi);
        if (x >= 0) {
            push_bool(r, !x);
        }
        break;
    case OP_FIRST:
        if (hi > lo) {
            fhir_path_item it = r->items[lo];

            push(r, it.node, it.type, it.boolean);
        }
        break;
    case OP_RESOLVE:
        /* No store here: the result stands for the target by its type
         * only, enough for `resolve() is Patient`. Its node is the
         * reference string, so paths into it find nothing. */
        for (size_t i = lo; i < hi; i++) {
            const cJSON *node = r->items[i].node;
            const cJSON *ref =
                cJSON_IsObject(node)
                    ? cJSON_GetObjectItemCaseSensitive(node, "reference")
                    : NULL;
            const char *t =
                cJSON_IsString(ref) ? reference_type(ref->valuestring) : NULL;

            if (t != NULL) {
                push(r, ref, t, 0);
            }
        }
        break;
    case OP_EXTENSION:
        for (size_t i = lo; i < hi; i++) {
            const cJSON *node = r->items[i].node;
            const cJSON *ext =
                cJSON_IsObject(node)
                    ? cJSON_GetObjectItemCaseSensitive(node, "extension")
                    : NULL;

            for (const cJSON *e = cJSON_IsArray(ext) ? ext->child : NULL;
                 e != NULL; e = e->next) {
                const char *url = fhir_json_str(e, "url");

                if (url != NULL && strcmp(url, nd->name) == 0) {
                    push(r, e, "Extension", 0);
                }
            }
        }
        break;
    case OP_INDEX:
        if (nd->index < hi - lo) {
            fhir_path_item it = r->items[lo + nd->index];

            push(r, it.node, it.type, it.boolean);
        }
        break;
    }
    /* The result sits above the consumed input; slide it down. */
    if (top > base) {
        memmove(r->items + base, r->items + top,
                (r->n - top) * sizeof(*r->items));
        r->n = base + (r->n - top);
    }
}

void
fhir_path_eval(fhir_path_result *out, const fhir_path *p, const cJSON *res)
{
    size_t base;

    assert(out != NULL && p != NULL);
    if (res == NULL) {
        return;
    }
    base = out->n;
    /* The context is the first item on the stack; drop it at the end.
     * Its type is left to a leading type name or to `is`, which read
     * resourceType only when asked. */
    push(out, res, NULL, 0);
    eval(p, p->root, out, base, base + 1);
    memmove(out->items + base, out->items + base + 1,
            (out->n - base - 1) * sizeof(*out->items));
    out->n--;
}

void
fhir_path_result_clear(fhir_path_result *r)
{
    if (r == NULL) {
        return;
    }
    free(r->items);
    r->items = NULL;
    r->n = 0;
    r->cap = 0;
}
