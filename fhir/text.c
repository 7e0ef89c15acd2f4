/* fhir/text.c - string normalisation and reference parsing for search.
 *
 * R4 search.html#string matches strings "case- and accent-insensitive",
 * so both the indexed text and the query go through fhir_str_normalize()
 * and search/ compares the results byte for byte. The folding is a fixed
 * subset of Unicode rather than full NFKD plus case folding: ASCII, the
 * Latin letters of Latin-1 Supplement and Latin Extended-A, combining
 * marks, and the basic Greek and Cyrillic capitals. Every other character
 * is kept as it is, so CJK names still match exactly. The output is never
 * longer than the input, which the code below relies on.
 *
 * fhir_ref_parse() classifies Reference.reference strings (R4
 * references.html#literal) so search/ can index a reference by "Type/id"
 * and server/ can resolve one; conditional references ("Patient?x=y") are
 * left to their caller and come back invalid.
 */
#include "fhir/fhir.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* fhir_str_normalize                                                  */

/* What each code point U+00C0..U+017F becomes, lower case ASCII; "" keeps
 * the character (× and ÷ are not letters). Source: the decomposition field
 * of UnicodeData.txt (Unicode 14) for Latin-1 Supplement and Latin
 * Extended-A, with the marks removed. Letters without a decomposition
 * (Æ Ð Ø Þ ß Đ Ħ ı ĸ Ŀ Ł ŉ Ŋ Œ Ŧ) are spelled as Lucene's
 * ASCIIFoldingFilter spells them. No entry is longer than the two UTF-8
 * bytes it replaces. */
/* clang-format off */
static const char latin[0x180 - 0xC0][3] = {
    /* U+00C0 À Á Â Ã Ä Å Æ Ç */
    "a", "a", "a", "a", "a", "a", "ae", "c",
    /* U+00C8 È É Ê Ë Ì Í Î Ï */
    "e", "e", "e", "e", "i", "i", "i", "i",
    /* U+00D0 Ð Ñ Ò Ó Ô Õ Ö × */
    "d", "n", "o", "o", "o", "o", "o", "",
    /* U+00D8 Ø Ù Ú Û Ü Ý Þ ß */
    "o", "u", "u", "u", "u", "y", "th", "ss",
    /* U+00E0 à á â ã ä å æ ç */
    "a", "a", "a", "a", "a", "a", "ae", "c",
    /* U+00E8 è é ê ë ì í î ï */
    "e", "e", "e", "e", "i", "i", "i", "i",
    /* U+00F0 ð ñ ò ó ô õ ö ÷ */
    "d", "n", "o", "o", "o", "o", "o", "",
    /* U+00F8 ø ù ú û ü ý þ ÿ */
    "o", "u", "u", "u", "u", "y", "th", "y",
    /* U+0100 Ā ā Ă ă Ą ą Ć ć */
    "a", "a", "a", "a", "a", "a", "c", "c",
    /* U+0108 Ĉ ĉ Ċ ċ Č č Ď ď */
    "c", "c", "c", "c", "c", "c", "d", "d",
    /* U+0110 Đ đ Ē ē Ĕ ĕ Ė ė */
    "d", "d", "e", "e", "e", "e", "e", "e",
    /* U+0118 Ę ę Ě ě Ĝ ĝ Ğ ğ */
    "e", "e", "e", "e", "g", "g", "g", "g",
    /* U+0120 Ġ ġ Ģ ģ Ĥ ĥ Ħ ħ */
    "g", "g", "g", "g", "h", "h", "h", "h",
    /* U+0128 Ĩ ĩ Ī ī Ĭ ĭ Į į */
    "i", "i", "i", "i", "i", "i", "i", "i",
    /* U+0130 İ ı Ĳ ĳ Ĵ ĵ Ķ ķ */
    "i", "i", "ij", "ij", "j", "j", "k", "k",
    /* U+0138 ĸ Ĺ ĺ Ļ ļ Ľ ľ Ŀ */
    "q", "l", "l", "l", "l", "l", "l", "l",
    /* U+0140 ŀ Ł ł Ń ń Ņ ņ Ň */
    "l", "l", "l", "n", "n", "n", "n", "n",
    /* U+0148 ň ŉ Ŋ ŋ Ō ō Ŏ ŏ */
    "n", "'n", "n", "n", "o", "o", "o", "o",
    /* U+0150 Ő ő Œ œ Ŕ ŕ Ŗ ŗ */
    "o", "o", "oe", "oe", "r", "r", "r", "r",
    /* U+0158 Ř ř Ś ś Ŝ ŝ Ş ş */
    "r", "r", "s", "s", "s", "s", "s", "s",
    /* U+0160 Š š Ţ ţ Ť ť Ŧ ŧ */
    "s", "s", "t", "t", "t", "t", "t", "t",
    /* U+0168 Ũ ũ Ū ū Ŭ ŭ Ů ů */
    "u", "u", "u", "u", "u", "u", "u", "u",
    /* U+0170 Ű ű Ų ų Ŵ ŵ Ŷ ŷ */
    "u", "u", "u", "u", "w", "w", "y", "y",
    /* U+0178 Ÿ Ź ź Ż ż Ž ž ſ */
    "y", "z", "z", "z", "z", "z", "z", "s",
};
/* clang-format on */

/* Greek and Cyrillic (two-byte code points outside the table above):
 * capitals to lower case, and Greek tonos and dialytika dropped as the
 * combining marks of a decomposed letter are, so "Ελένη" and "ΕΛΕΝΗ" meet.
 * Final sigma folds to sigma (CaseFolding.txt). Anything else is itself. */
static unsigned
fold_greek_cyrillic(unsigned cp)
{
    switch (cp) {
    case 0x386: /* Ά */
    case 0x3AC: /* ά */
        return 0x3B1;
    case 0x388: /* Έ */
    case 0x3AD: /* έ */
        return 0x3B5;
    case 0x389: /* Ή */
    case 0x3AE: /* ή */
        return 0x3B7;
    case 0x38A: /* Ί */
    case 0x390: /* ΐ */
    case 0x3AA: /* Ϊ */
    case 0x3AF: /* ί */
    case 0x3CA: /* ϊ */
        return 0x3B9;
    case 0x38C: /* Ό */
    case 0x3CC: /* ό */
        return 0x3BF;
    case 0x38E: /* Ύ */
    case 0x3AB: /* Ϋ */
    case 0x3B0: /* ΰ */
    case 0x3CB: /* ϋ */
    case 0x3CD: /* ύ */
        return 0x3C5;
    case 0x38F: /* Ώ */
    case 0x3CE: /* ώ */
        return 0x3C9;
    case 0x3C2: /* ς */
        return 0x3C3;
    default:
        break;
    }
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) {
        return cp + 0x20; /* Α..Ω; U+03A2 is unassigned */
    }
    if (cp >= 0x400 && cp <= 0x40F) {
        return cp + 0x50; /* Ѐ..Џ */
    }
    if (cp >= 0x410 && cp <= 0x42F) {
        return cp + 0x20; /* А..Я */
    }
    return cp;
}

size_t
fhir_utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    size_t n;

    if (c < 0xC2) {
        return 0; /* continuation byte, or overlong C0/C1 lead */
    } else if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return 0;
    }
    /* Byte by byte, stopping at the first bad one: a NUL ends the check
     * before anything past it is read. */
    if (avail < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return n;
}

void
fhir_utf8_cut(char *s)
{
    size_t n = strlen(s), i = n;
    /* Back over continuation bytes to the last lead byte: the character
     * there is cut short when the reader's own check refuses it. */
    while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
    }
    if (i > 0 && (unsigned char)s[i - 1] >= 0xC0 &&
        fhir_utf8_len((const unsigned char *)s + i - 1, n - i + 1) == 0) {
        s[i - 1] = '\0';
    }
}

void
fhir_str_normalize(fhir_buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;
    size_t start;
    char *q;
    int space = 0; /* whitespace seen since the last character written */
    int loose = 0; /* the last thing written was an invalid byte */

    assert(out != NULL && s != NULL);
    n = strlen(s);
    start = out->len;
    /* No mapping lengthens its input, so appending `s` reserves enough
     * room; the normalised text is then written over that copy. */
    fhir_buf_append(out, s, n);
    q = out->data + start;

    for (;;) {
        unsigned c = *p;

        /* Fast path: a run of ASCII letters, digits and punctuation. */
        if (c > ' ' && c < 0x80) {
            if (space) {
                *q++ = ' ';
                space = 0;
            }
            do {
                *q++ = (char)(c - 'A' < 26u ? c + 0x20 : c);
                c = *++p;
            } while (c > ' ' && c < 0x80);
            loose = 0;
            continue;
        }
        if (c == '\0') {
            break;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
            (c == 0xC2 && p[1] == 0xA0)) {
            /* Leading whitespace is dropped, trailing never written. */
            space = q > out->data + start;
            loose = 0;
            p += c == 0xC2 ? 2 : 1;
            continue;
        }

        const char *put = NULL; /* replacement text, if any */
        size_t len = 1;         /* input bytes consumed */
        int bad = 0;            /* p[0] is not valid UTF-8 */
        char two[3];

        if (c >= 0xC2 && c < 0xE0 && (p[1] & 0xC0) == 0x80) {
            unsigned cp = ((c & 0x1Fu) << 6) | (p[1] & 0x3Fu);

            len = 2;
            if (cp >= 0x300 && cp < 0x370 && !loose) {
                /* A combining mark: dropped, so decomposed input meets
                 * precomposed. One right after an invalid byte is kept,
                 * else the bytes around it could join into a character
                 * and a second pass would change the text. */
                p += 2;
                continue;
            }
            if (cp >= 0xC0 && cp < 0x180 && latin[cp - 0xC0][0] != '\0') {
                put = latin[cp - 0xC0];
            } else {
                cp = fold_greek_cyrillic(cp);
                two[0] = (char)(0xC0 | (cp >> 6));
                two[1] = (char)(0x80 | (cp & 0x3F));
                two[2] = '\0';
                put = two;
            }
        } else if (c >= 0x80) {
            len = fhir_utf8_len(p, SIZE_MAX);
            if (len == 0) {
                len = 1; /* invalid: this byte goes out as it came */
                bad = 1;
            }
        }

        if (space) {
            *q++ = ' ';
            space = 0;
        }
        if (put != NULL) {
            *q++ = put[0];
            if (put[1] != '\0') {
                *q++ = put[1];
            }
        } else {
            memcpy(q, p, len);
            q += len;
        }
        loose = bad;
        p += len;
    }

    assert(q <= out->data + start + n);
    out->len = (size_t)(q - out->data);
    *q = '\0';
}

/* ------------------------------------------------------------------ */
/* fhir_ref_parse                                                      */

/* Copies the id p[0..n) into dst (FHIR_ID_MAX + 1 bytes) if it is a valid
 * FHIR id; returns 1 if so. */
static int
take_id(char *dst, const char *p, size_t n)
{
    if (n == 0 || n > FHIR_ID_MAX) {
        return 0;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
    return fhir_id_valid(dst);
}

/* Fills out->type, id and version from exactly "Type/id" or
 * "Type/id/_history/vid" in p[0..n); returns 1 if it is one of them. */
static int
parse_type_id(fhir_ref *out, const char *p, size_t n)
{
    const char *end = p + n;
    const char *seg[4];
    size_t len[4];
    size_t k = 0;

    /* Split on '/'; more than four segments is not a reference. */
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));

        if (k == 4) {
            return 0;
        }
        seg[k] = p;
        len[k] = (size_t)((slash ? slash : end) - p);
        k++;
        if (slash == NULL) {
            break;
        }
        p = slash + 1;
    }
    if (k != 2 && k != 4) {
        return 0;
    }
    if (len[0] == 0 || len[0] >= sizeof(out->type) || seg[0][0] < 'A' ||
        seg[0][0] > 'Z') {
        return 0;
    }
    for (size_t i = 1; i < len[0]; i++) {
        char c = seg[0][i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
            return 0;
        }
    }
    if (!take_id(out->id, seg[1], len[1])) {
        return 0;
    }
    if (k == 4 && (len[2] != 8 || memcmp(seg[2], "_history", 8) != 0 ||
                   !take_id(out->version, seg[3], len[3]))) {
        return 0;
    }
    memcpy(out->type, seg[0], len[0]);
    out->type[len[0]] = '\0';
    return 1;
}

/* Length of the URI scheme that starts s, up to but excluding its ':'
 * (RFC 3986 section 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), or 0
 * when s does not start with one. */
static size_t
scheme_len(const char *s)
{
    size_t n;

    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))) {
        return 0;
    }
    for (n = 1; s[n] != ':'; n++) {
        char c = s[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
        if (!ok) {
            return 0; /* includes the NUL: no ':' at all */
        }
    }
    return n;
}

/* 1 if s[0..n) is a UUID in 8-4-4-4-12 hex digits (RFC 4122 section 3;
 * either case on input). */
static int
is_uuid(const char *s, size_t n)
{
    if (n != 36) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                     (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

/* 1 if s[0..n) is an OID as R4's oid type writes it after "urn:oid:":
 * [0-2](\.(0|[1-9][0-9]*))+ */
static int
is_oid(const char *s, size_t n)
{
    size_t i = 1;
    int arcs = 0;

    if (n < 3 || s[0] < '0' || s[0] > '2') {
        return 0;
    }
    while (i < n) {
        size_t d = 0;
        if (s[i] != '.') {
            return 0;
        }
        i++;
        while (i + d < n && s[i + d] >= '0' && s[i + d] <= '9') {
            d++;
        }
        if (d == 0 || (d > 1 && s[i] == '0')) {
            return 0;
        }
        i += d;
        arcs++;
    }
    return arcs > 0;
}

/* An absolute URI of n bytes whose scheme is `slen` long. */
static fhir_ref_kind
parse_absolute(fhir_ref *out, const char *s, size_t n, size_t slen)
{
    const char *tail[4] = {NULL, NULL, NULL, NULL}; /* last four '/' */
    const char *path;
    const char *p;

    if (slen == 3 && strncasecmp(s, "urn:uuid:", 9) == 0) {
        return is_uuid(s + 9, n - 9) ? FHIR_REF_URN : FHIR_REF_INVALID;
    }
    if (slen == 3 && strncasecmp(s, "urn:oid:", 8) == 0) {
        return is_oid(s + 8, n - 8) ? FHIR_REF_URN : FHIR_REF_INVALID;
    }
    if (!((slen == 4 && strncasecmp(s, "http://", 7) == 0) ||
          (slen == 5 && strncasecmp(s, "https://", 8) == 0))) {
        return FHIR_REF_URL;
    }
    /* http(s)://authority/path: a query or fragment makes it a plain
     * URL; otherwise the path may end in Type/id[/_history/vid]. */
    if (strpbrk(s, "?#") != NULL) {
        return FHIR_REF_URL;
    }
    path = strchr(s + slen + 3, '/');
    if (path == NULL || path == s + slen + 3) {
        return FHIR_REF_URL; /* no path, or no host */
    }
    for (p = path; p != NULL; p = strchr(p + 1, '/')) {
        memmove(tail, tail + 1, 3 * sizeof(tail[0]));
        tail[3] = p;
    }
    for (int k = 0; k < 4; k += 2) {
        if (tail[k] != NULL &&
            parse_type_id(out, tail[k] + 1, (size_t)(s + n - tail[k] - 1))) {
            out->base_len = (size_t)(tail[k] - s);
            return FHIR_REF_ABSOLUTE;
        }
        memset(out, 0, sizeof(*out)); /* undo a partial match */
    }
    return FHIR_REF_URL;
}

fhir_ref_kind
fhir_ref_parse(fhir_ref *out, const char *s)
{
    fhir_ref_kind kind = FHIR_REF_INVALID;
    size_t n;
    size_t slen;

    assert(out != NULL);
    memset(out, 0, sizeof(*out));
    if (s == NULL) {
        goto done;
    }
    /* No URI and no id contains whitespace or control characters. */
    for (n = 0; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c <= ' ' || c == 0x7F) {
            goto done;
        }
    }
    slen = scheme_len(s);
    if (s[0] == '#') {
        /* R4 references.html#contained; a bare "#" (the container) is not
         * accepted here. */
        if (take_id(out->id, s + 1, n - 1)) {
            kind = FHIR_REF_CONTAINED;
        }
    } else if (slen > 0 && slen + 1 < n) {
        kind = parse_absolute(out, s, n, slen);
    } else if (slen == 0 && parse_type_id(out, s, n)) {
        kind = FHIR_REF_RELATIVE;
    }
done:
    if (kind == FHIR_REF_INVALID || kind == FHIR_REF_URN ||
        kind == FHIR_REF_URL) {
        memset(out, 0, sizeof(*out));
    }
    out->kind = kind;
    return kind;
}

/* ---- hashing ----------------------------------------------------------- */

uint64_t
fhir_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- base64 ------------------------------------------------------------ */

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int
fhir_base64_decode(fhir_buf *out, const char *s, size_t len)
{
    unsigned char q[4];
    int nq = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        }
        if (pad > 0 && c != '=') {
            return -1; /* nothing may follow the padding */
        }
        if (c == '=') {
            if (nq < 2) {
                return -1;
            }
            pad++;
            q[nq++] = 0;
        } else {
            int v = b64_value(c);
            if (v < 0) {
                return -1;
            }
            q[nq++] = (unsigned char)v;
        }
        if (nq == 4) {
            char b[3] = {(char)(q[0] << 2 | q[1] >> 4),
                         (char)((q[1] & 15) << 4 | q[2] >> 2),
                         (char)((q[2] & 3) << 6 | q[3])};
            if (pad > 2) {
                return -1;
            }
            fhir_buf_append(out, b, (size_t)(3 - pad));
            nq = 0;
        }
    }
    return nq == 0 ? 0 : -1;
}
