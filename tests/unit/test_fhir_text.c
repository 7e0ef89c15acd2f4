/* tests/unit/test_fhir_text.c - string normalisation and reference parsing.
 *
 * fhir_str_normalize() decides which strings a string search matches, so
 * each kind of folding has a case named after the language that needs it
 * (German ß, Danish Æ, Polish Ł, ...), plus whitespace, combining marks,
 * Greek, Cyrillic, characters kept as they are, and invalid UTF-8. A
 * seeded random loop checks the promises that must hold for any bytes:
 * no crash, a NUL-terminated result no longer than the input, and a second
 * pass that changes nothing. fhir_ref_parse() has one case per kind of
 * reference and a table of strings that must be rejected with *out zeroed.
 */
#include "fhir/fhir.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------- */

/* fhir_str_normalize(s) as a fresh string (caller frees). */
static char *
norm(const char *s)
{
    fhir_buf b = FHIR_BUF_INIT;

    fhir_str_normalize(&b, s);
    assert_non_null(b.data);
    assert_int_equal(strlen(b.data), b.len);
    return fhir_buf_take(&b, NULL);
}

static void
assert_norm(const char *in, const char *want)
{
    char *got = norm(in);

    assert_string_equal(got, want);
    free(got);
}

/* Encodes a code point below U+0800 as UTF-8 into out (3 bytes). */
static void
utf8_two(char *out, unsigned cp)
{
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    out[2] = '\0';
}

/* A small deterministic generator (xorshift32) so failures reproduce. */
static uint32_t
next_rand(uint32_t *st)
{
    uint32_t x = *st;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *st = x;
    return x;
}

/* ---- fhir_str_normalize: ASCII and whitespace ------------------------ */

static void
fhir_text__normalize_ascii_lower(void **state)
{
    (void)state;
    assert_norm("Hello WORLD", "hello world");
    assert_norm("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz");
    assert_norm("abc-123_.@[]{}~", "abc-123_.@[]{}~");
    /* The characters just outside A..Z stay. */
    assert_norm("@[`{", "@[`{");
}

static void
fhir_text__normalize_empty(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;

    (void)state;
    fhir_str_normalize(&b, "");
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    fhir_buf_clear(&b);
}

static void
fhir_text__normalize_only_whitespace(void **state)
{
    (void)state;
    assert_norm(" ", "");
    assert_norm(" \t\r\n ", "");
    assert_norm("\xC2\xA0\xC2\xA0", "");
}

static void
fhir_text__normalize_whitespace_runs(void **state)
{
    (void)state;
    assert_norm("  a \t\n b  ", "a b");
    assert_norm("a\r\nb", "a b");
    assert_norm("\ta\t", "a");
    assert_norm("Jürgen  Müller ", "jurgen muller");
}

static void
fhir_text__normalize_nbsp_is_whitespace(void **state)
{
    (void)state;
    assert_norm("a\xC2\xA0"
                "b",
                "a b");
    assert_norm("\xC2\xA0x \xC2\xA0 y\xC2\xA0", "x y");
}

static void
fhir_text__normalize_control_characters_kept(void **state)
{
    (void)state;
    /* Only space, tab, CR, LF and NBSP are whitespace here. */
    assert_norm("a\x01"
                "B\x7F",
                "a\x01"
                "b\x7F");
    assert_norm("a\x0B"
                "b",
                "a\x0B"
                "b");
}

static void
fhir_text__normalize_appends(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;

    (void)state;
    fhir_buf_puts(&b, "x|");
    fhir_str_normalize(&b, "  Ab  ");
    fhir_buf_putc(&b, '|');
    fhir_str_normalize(&b, " ");
    fhir_str_normalize(&b, "Straße");
    assert_string_equal(b.data, "x|ab|strasse");
    assert_int_equal(b.len, strlen("x|ab|strasse"));
    fhir_buf_clear(&b);
}

static void
fhir_text__normalize_long_input(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    size_t n = 99999; /* ends in a space */
    char *s = malloc(n + 1);

    (void)state;
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        s[i] = (char)(i % 3 == 2 ? ' ' : 'A' + i % 26);
    }
    s[n] = '\0';
    fhir_str_normalize(&b, s);
    assert_int_equal(b.len, n - 1); /* the trailing space is dropped */
    assert_int_equal(b.data[0], 'a');
    assert_int_equal(b.data[2], ' ');
    fhir_buf_clear(&b);
    free(s);
}

/* ---- fhir_str_normalize: Latin letters ------------------------------ */

static void
fhir_text__normalize_german_umlauts(void **state)
{
    (void)state;
    assert_norm("Müller", "muller");
    assert_norm("MÜLLER", "muller");
    assert_norm("Köln Ärger", "koln arger");
}

static void
fhir_text__normalize_german_eszett(void **state)
{
    (void)state;
    assert_norm("Straße", "strasse");
    assert_norm("STRASSE", "strasse");
    assert_norm("ß", "ss");
}

static void
fhir_text__normalize_danish_ae_and_o_slash(void **state)
{
    (void)state;
    assert_norm("Ærøskøbing", "aeroskobing");
    assert_norm("Ærø", "aero");
    assert_norm("ØSTER Åse", "oster ase");
}

static void
fhir_text__normalize_polish_l_stroke(void **state)
{
    (void)state;
    assert_norm("Łódź", "lodz");
    assert_norm("ŁÓDŹ", "lodz");
    assert_norm("Świętokrzyskie", "swietokrzyskie");
}

static void
fhir_text__normalize_spanish_enye(void **state)
{
    (void)state;
    assert_norm("Ñandú", "nandu");
    assert_norm("Peña", "pena");
}

static void
fhir_text__normalize_dutch_ij(void **state)
{
    (void)state;
    assert_norm("Ĳsselmeer", "ijsselmeer");
    assert_norm("ĳs", "ijs");
}

static void
fhir_text__normalize_icelandic_thorn_and_eth(void **state)
{
    (void)state;
    assert_norm("Þór", "thor");
    assert_norm("þÞ", "thth");
    assert_norm("Ðað", "dad");
}

static void
fhir_text__normalize_french_oe_ligature(void **state)
{
    (void)state;
    assert_norm("Œuvre cœur", "oeuvre coeur");
    assert_norm("Françoise Hélène", "francoise helene");
}

static void
fhir_text__normalize_croatian_d_stroke(void **state)
{
    (void)state;
    assert_norm("Đurđević", "durdevic");
}

static void
fhir_text__normalize_maltese_h_stroke(void **state)
{
    (void)state;
    assert_norm("Ħamrun ħ", "hamrun h");
}

static void
fhir_text__normalize_turkish_dotless_and_dotted_i(void **state)
{
    (void)state;
    assert_norm("Işık", "isik");
    assert_norm("İstanbul", "istanbul");
}

static void
fhir_text__normalize_catalan_l_middle_dot(void **state)
{
    (void)state;
    assert_norm("Coŀlecció", "colleccio");
    assert_norm("ĿL", "ll");
    /* A separate middle dot (U+00B7) is punctuation and stays. */
    assert_norm("Col·lecció", "col·leccio");
}

static void
fhir_text__normalize_rare_latin_letters(void **state)
{
    (void)state;
    assert_norm("ſ", "s");
    assert_norm("ĸ", "q");
    assert_norm("ŉ", "'n");
    assert_norm("Ŋŋ", "nn");
    assert_norm("Ŧŧ", "tt");
}

static void
fhir_text__normalize_signs_in_latin1_kept(void **state)
{
    (void)state;
    assert_norm("2×3÷4", "2×3÷4");
    assert_norm("© µ ¿", "© µ ¿");
}

/* Every code point of the table folds to lower case ASCII (two letters at
 * most), or is one of the two signs kept. */
static void
fhir_text__normalize_latin_table_is_ascii(void **state)
{
    (void)state;
    for (unsigned cp = 0xC0; cp < 0x180; cp++) {
        char in[3];
        char *got;

        utf8_two(in, cp);
        got = norm(in);
        if (cp == 0xD7 || cp == 0xF7) {
            assert_string_equal(got, in);
        } else {
            size_t n = strlen(got);
            assert_true(n >= 1 && n <= 2);
            for (size_t i = 0; i < n; i++) {
                assert_true((got[i] >= 'a' && got[i] <= 'z') || got[i] == '\'');
            }
        }
        free(got);
    }
}

/* À..Þ and à..þ are the same letters 0x20 apart; Latin Extended-A pairs
 * capitals and small letters side by side. */
static void
fhir_text__normalize_latin_upper_and_lower_meet(void **state)
{
    (void)state;
    for (unsigned cp = 0xC0; cp <= 0xDE; cp++) {
        char up[3];
        char low[3];
        char *a;
        char *b;

        if (cp == 0xD7) {
            continue; /* × and ÷ */
        }
        utf8_two(up, cp);
        utf8_two(low, cp + 0x20);
        a = norm(up);
        b = norm(low);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    for (unsigned cp = 0x100; cp < 0x178; cp += 2) {
        char up[3];
        char low[3];
        char *a;
        char *b;

        /* ı, ĸ and ŉ break the even/odd pattern between U+0130 and
         * U+0149; the pairs realign at Ŋ. */
        if (cp >= 0x130 && cp < 0x14A) {
            continue;
        }
        utf8_two(up, cp);
        utf8_two(low, cp + 1);
        a = norm(up);
        b = norm(low);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    assert_norm("Ĳĳ", "ijij");
    assert_norm("Ŀŀ", "ll");
    assert_norm("Łł", "ll");
    assert_norm("Ÿÿ", "yy");
}

/* ---- fhir_str_normalize: combining marks ---------------------------- */

static void
fhir_text__normalize_combining_marks_stripped(void **state)
{
    (void)state;
    assert_norm("e\xCC\x81", "e");           /* e + U+0301 */
    assert_norm("Mu\xCC\x88ller", "muller"); /* u + U+0308 */
    assert_norm("A\xCC\x8A"
                "se",
                "ase");                            /* A + U+030A */
    assert_norm("x\xCC\x80\xCD\xAF", "x");         /* U+0300, U+036F */
    assert_norm("n\xCC\x83\xCC\x83\xCC\x83", "n"); /* several */
}

static void
fhir_text__normalize_decomposed_meets_precomposed(void **state)
{
    char *a;
    char *b;

    (void)state;
    a = norm("Mu\xCC\x88ller Ren\xCC\x83"
             "e");
    b = norm("Müller Reñe");
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void
fhir_text__normalize_combining_mark_alone(void **state)
{
    (void)state;
    assert_norm("\xCC\x81", "");
    assert_norm("\xCC\x81"
                "a",
                "a");
    assert_norm("a \xCC\x81", "a");
    assert_norm("a \xCC\x81 b", "a b");
}

static void
fhir_text__normalize_next_to_combining_range_kept(void **state)
{
    (void)state;
    /* U+02FF and U+0370 border the combining block and are letters. */
    assert_norm("\xCB\xBF", "\xCB\xBF");
    assert_norm("\xCD\xB0", "\xCD\xB0");
}

/* ---- fhir_str_normalize: other scripts ------------------------------ */

static void
fhir_text__normalize_greek_capitals(void **state)
{
    (void)state;
    assert_norm("ΕΛΕΝΗ", "ελενη");
    assert_norm("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ", "αβγδεζηθικλμνξοπρστυφχψω");
}

static void
fhir_text__normalize_greek_tonos_and_final_sigma(void **state)
{
    (void)state;
    assert_norm("Ελένη", "ελενη");
    assert_norm("ΆΈΉΊΌΎΏ άέήίόύώ", "αεηιουω αεηιουω");
    assert_norm("ΪΫϊϋΐΰ", "ιυιυιυ");
    assert_norm("Οδυσσεύς", "οδυσσευσ");
    assert_norm("ΟΔΥΣΣΕΥΣ", "οδυσσευσ");
    /* Decomposed tonos: α + U+0301. */
    assert_norm("\xCE\xB1\xCC\x81", "α");
}

static void
fhir_text__normalize_cyrillic_capitals(void **state)
{
    (void)state;
    assert_norm("ИВАН", "иван");
    assert_norm("Иван Петров", "иван петров");
    assert_norm("АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
                "абвгдежзийклмнопрстуфхцчшщъыьэюя");
    assert_norm("ЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏ", "ѐёђѓєѕіїјљњћќѝўџ");
}

static void
fhir_text__normalize_cjk_unchanged(void **state)
{
    (void)state;
    assert_norm("王小明", "王小明");
    assert_norm("  王 小明  ", "王 小明");
    assert_norm("山田 太郎", "山田 太郎");
}

static void
fhir_text__normalize_four_byte_unchanged(void **state)
{
    (void)state;
    assert_norm("\xF0\x9F\x98\x80 Smile", "\xF0\x9F\x98\x80 smile");
    assert_norm("\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"); /* U+10FFFF */
}

/* ---- fhir_str_normalize: invalid UTF-8 ------------------------------ */

static void
fhir_text__normalize_invalid_bytes_copied(void **state)
{
    (void)state;
    assert_norm("\xFF", "\xFF");
    assert_norm("\xFF"
                "AB",
                "\xFF"
                "ab");
    assert_norm("\x80\xBF", "\x80\xBF"); /* lone continuations */
    assert_norm("\xC3(", "\xC3(");       /* lead, no continuation */
    assert_norm("\xC3\xC3\x84", "\xC3"
                                "a");                    /* bad lead, then Ä */
    assert_norm("\xC0\xAF", "\xC0\xAF");                 /* overlong '/' */
    assert_norm("\xE0\x80\xAF", "\xE0\x80\xAF");         /* overlong, three */
    assert_norm("\xED\xA0\x80", "\xED\xA0\x80");         /* surrogate */
    assert_norm("\xF4\x90\x80\x80", "\xF4\x90\x80\x80"); /* > U+10FFFF */
    assert_norm("\xF8\x88\x80\x80\x80", "\xF8\x88\x80\x80\x80");
}

static void
fhir_text__normalize_truncated_at_end(void **state)
{
    (void)state;
    /* The NUL ends the string even in the middle of a sequence. */
    assert_norm("a\xC3", "a\xC3");
    assert_norm("A\xE2\x82", "a\xE2\x82");
    assert_norm("A\xF0\x9F\x98", "a\xF0\x9F\x98");
    assert_norm("\xC2", "\xC2"); /* half an NBSP */
}

static void
fhir_text__normalize_invalid_then_combining_kept(void **state)
{
    (void)state;
    /* Dropping U+0301 here would join E2 and 80 80 into U+2000. */
    assert_norm("\xE2\xCC\x81\x80\x80", "\xE2\xCC\x81\x80\x80");
    /* After valid text the mark goes as usual. */
    assert_norm("\xE2x\xCC\x81", "\xE2x");
}

/* ---- fhir_str_normalize: promises for any input --------------------- */

static void
fhir_text__normalize_idempotent_on_names(void **state)
{
    static const char *const names[] = {
        "Müller",          "MÜLLER",         "Ærøskøbing",   "Łódź",
        "Straße",          "Ñandú",          "Ĳsselmeer",    "Þór",
        "Jürgen  Müller ", "王小明",         "Ελένη",        "ИВАН",
        "Οδυσσεύς",        "Mu\xCC\x88ller", " \xC2\xA0x\t",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *once = norm(names[i]);
        char *twice = norm(once);

        assert_string_equal(twice, once);
        free(once);
        free(twice);
    }
}

static void
fhir_text__normalize_same_name_meets(void **state)
{
    static const char *const pairs[][2] = {
        {"Müller", "MÜLLER"},
        {"Müller", "muller"},
        {"Straße", "STRASSE"},
        {"Ærøskøbing", "AEROSKOBING"},
        {"Łódź", "LODZ"},
        {"Ñandú", "nandu"},
        {"Ĳsselmeer", "IJSSELMEER"},
        {"Þór", "THOR"},
        {"Jürgen  Müller ", "jurgen muller"},
        {"Ελένη", "ΕΛΕΝΗ"},
        {"ИВАН", "Иван"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char *a = norm(pairs[i][0]);
        char *b = norm(pairs[i][1]);

        assert_string_equal(a, b);
        free(a);
        free(b);
    }
}

/* Random byte strings, weighted towards the bytes that matter (UTF-8
 * leads, continuations, combining-mark leads, whitespace, NBSP), each in
 * a buffer of exactly its size so ASan sees any read past the NUL. */
static void
fhir_text__normalize_random_bytes(void **state)
{
    static const unsigned char pick[] = {
        'A',  'z',  ' ',  '\t', '\n', 0x01, 0x7F, 0x80, 0x81, 0xA0,
        0xAF, 0xBF, 0xC0, 0xC2, 0xC3, 0xC4, 0xC5, 0xCC, 0xCD, 0xCE,
        0xD0, 0xDF, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
    };
    uint32_t seed = 0x2545F491u;

    (void)state;
    for (int round = 0; round < 100000; round++) {
        size_t n = next_rand(&seed) % 24;
        char *s = malloc(n + 1);
        fhir_buf once = FHIR_BUF_INIT;
        fhir_buf twice = FHIR_BUF_INIT;

        assert_non_null(s);
        for (size_t i = 0; i < n; i++) {
            uint32_t r = next_rand(&seed);
            unsigned char c = (r & 1) ? pick[(r >> 1) % sizeof(pick)]
                                      : (unsigned char)(1 + (r >> 8) % 255);
            s[i] = (char)c;
        }
        s[n] = '\0';
        fhir_str_normalize(&once, s);
        assert_non_null(once.data);
        assert_true(once.len <= n);
        assert_int_equal(once.data[once.len], '\0');
        assert_int_equal(strlen(once.data), once.len);
        fhir_str_normalize(&twice, once.data);
        if (twice.len != once.len ||
            memcmp(twice.data, once.data, once.len) != 0) {
            fail_msg("not idempotent on round %d", round);
        }
        fhir_buf_clear(&once);
        fhir_buf_clear(&twice);
        free(s);
    }
}

/* ---- fhir_ref_parse ------------------------------------------------- */

/* Parses s into *out, checks the kind and that out->kind agrees. */
static void
assert_ref(fhir_ref *out, const char *s, fhir_ref_kind want)
{
    fhir_ref_kind got = fhir_ref_parse(out, s);

    if (got != want) {
        fail_msg("\"%s\": kind %d, want %d", s ? s : "(null)", (int)got,
                 (int)want);
    }
    assert_int_equal(out->kind, want);
}

/* All fields but kind are empty. */
static void
assert_ref_bare(const fhir_ref *r)
{
    assert_string_equal(r->type, "");
    assert_string_equal(r->id, "");
    assert_string_equal(r->version, "");
    assert_int_equal(r->base_len, 0);
}

static void
fhir_ref__relative(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "Patient/123", FHIR_REF_RELATIVE);
    assert_string_equal(r.type, "Patient");
    assert_string_equal(r.id, "123");
    assert_string_equal(r.version, "");
    assert_int_equal(r.base_len, 0);
}

static void
fhir_ref__relative_with_history(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "Patient/123/_history/2", FHIR_REF_RELATIVE);
    assert_string_equal(r.type, "Patient");
    assert_string_equal(r.id, "123");
    assert_string_equal(r.version, "2");
}

static void
fhir_ref__relative_any_type_and_id_characters(void **state)
{
    fhir_ref r;

    (void)state;
    /* The type is checked for shape only; ids allow [A-Za-z0-9-.]. */
    assert_ref(&r, "Observation/aB-9.x", FHIR_REF_RELATIVE);
    assert_string_equal(r.type, "Observation");
    assert_string_equal(r.id, "aB-9.x");
    assert_ref(&r, "X/1", FHIR_REF_RELATIVE);
    assert_ref(&r, "Task/0e1f/_history/v-1.2", FHIR_REF_RELATIVE);
    assert_string_equal(r.version, "v-1.2");
}

static void
fhir_ref__relative_id_length_limit(void **state)
{
    char s[128];
    fhir_ref r;

    (void)state;
    memset(s, 0, sizeof(s));
    memcpy(s, "Patient/", 8);
    memset(s + 8, 'a', 64);
    assert_ref(&r, s, FHIR_REF_RELATIVE);
    assert_int_equal(strlen(r.id), 64);
    s[8 + 64] = 'a'; /* 65 characters */
    assert_ref(&r, s, FHIR_REF_INVALID);
    assert_ref_bare(&r);
}

static void
fhir_ref__version_length_limit(void **state)
{
    char s[128];
    fhir_ref r;

    (void)state;
    memset(s, 0, sizeof(s));
    memcpy(s, "Patient/1/_history/", 19);
    memset(s + 19, '7', 64);
    assert_ref(&r, s, FHIR_REF_RELATIVE);
    assert_int_equal(strlen(r.version), 64);
    s[19 + 64] = '7';
    assert_ref(&r, s, FHIR_REF_INVALID);
}

static void
fhir_ref__type_length_limit(void **state)
{
    char s[128];
    fhir_ref r;

    (void)state;
    memset(s, 0, sizeof(s));
    s[0] = 'T';
    memset(s + 1, 'a', 62); /* 63 letters fit type[64] */
    memcpy(s + 63, "/1", 2);
    assert_ref(&r, s, FHIR_REF_RELATIVE);
    assert_int_equal(strlen(r.type), 63);
    memset(s, 0, sizeof(s));
    s[0] = 'T';
    memset(s + 1, 'a', 63);
    memcpy(s + 64, "/1", 2);
    assert_ref(&r, s, FHIR_REF_INVALID);
}

static void
fhir_ref__absolute(void **state)
{
    const char *s = "http://example.org/fhir/Patient/123";
    fhir_ref r;

    (void)state;
    assert_ref(&r, s, FHIR_REF_ABSOLUTE);
    assert_string_equal(r.type, "Patient");
    assert_string_equal(r.id, "123");
    assert_string_equal(r.version, "");
    assert_int_equal(r.base_len, strlen("http://example.org/fhir"));
}

static void
fhir_ref__absolute_with_history(void **state)
{
    const char *s = "https://example.org:8443/base/r4/Patient/1/_history/7";
    fhir_ref r;

    (void)state;
    assert_ref(&r, s, FHIR_REF_ABSOLUTE);
    assert_string_equal(r.type, "Patient");
    assert_string_equal(r.id, "1");
    assert_string_equal(r.version, "7");
    assert_int_equal(r.base_len, strlen("https://example.org:8443/base/r4"));
}

static void
fhir_ref__absolute_at_server_root(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "http://localhost:8080/Task/t1", FHIR_REF_ABSOLUTE);
    assert_int_equal(r.base_len, strlen("http://localhost:8080"));
    assert_string_equal(r.type, "Task");
    assert_string_equal(r.id, "t1");
}

static void
fhir_ref__absolute_scheme_any_case(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "HTTPS://x.org/fhir/Patient/1", FHIR_REF_ABSOLUTE);
    assert_int_equal(r.base_len, strlen("HTTPS://x.org/fhir"));
}

static void
fhir_ref__absolute_history_without_type_id_is_url(void **state)
{
    fhir_ref r;

    (void)state;
    /* "_history" is not a type, so "_history/2" alone is not Type/id. */
    assert_ref(&r, "http://x/fhir/_history/2", FHIR_REF_URL);
    assert_ref_bare(&r);
}

static void
fhir_ref__url_when_tail_is_not_type_id(void **state)
{
    static const char *const urls[] = {
        "http://example.org/fhir",
        "http://example.org/fhir/",
        "http://x/a/b",
        "http://x/Patient/1/",
        "http://x/Patient/1/_history/",
        "http://x/Patient/1/_history",
        "http://x/Patient/1?_format=json",
        "http://x/Patient/1#p1",
        "http://x/Patient/a%20b",
        "http:///Patient/1",
        "http:/x/Patient/1",
        "http://Patient/1",
        "http://x",
        "http://x/fhir/Patient/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaa", /* 65-character id */
    };
    fhir_ref r;

    (void)state;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        assert_ref(&r, urls[i], FHIR_REF_URL);
        assert_ref_bare(&r);
    }
}

static void
fhir_ref__canonical_is_url(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "http://example.org/Questionnaire/q|1.0", FHIR_REF_URL);
    assert_ref_bare(&r);
}

static void
fhir_ref__other_schemes_are_url(void **state)
{
    static const char *const urls[] = {
        "ftp://x/Patient/1", "mailto:someone@example.org",
        "urn:ietf:rfc:3986", "tel:+1-555-0100",
        "a+b.c-d:x",         "URN:ISO:std:iso:3166",
    };
    fhir_ref r;

    (void)state;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        assert_ref(&r, urls[i], FHIR_REF_URL);
        assert_ref_bare(&r);
    }
}

static void
fhir_ref__contained(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "#p1", FHIR_REF_CONTAINED);
    assert_string_equal(r.id, "p1");
    assert_string_equal(r.type, "");
    assert_string_equal(r.version, "");
    assert_int_equal(r.base_len, 0);
}

static void
fhir_ref__contained_needs_valid_id(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "#", FHIR_REF_INVALID);
    assert_ref(&r, "#a b", FHIR_REF_INVALID);
    assert_ref(&r, "#a/b", FHIR_REF_INVALID);
    assert_ref(&r, "##", FHIR_REF_INVALID);
    assert_ref(&r, "#Patient/1", FHIR_REF_INVALID);
    assert_ref_bare(&r);
}

static void
fhir_ref__urn_uuid(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "urn:uuid:53fefa32-fcbb-4ff8-8a92-55ee120877b7",
               FHIR_REF_URN);
    assert_ref_bare(&r);
    assert_ref(&r, "urn:uuid:53FEFA32-FCBB-4FF8-8A92-55EE120877B7",
               FHIR_REF_URN);
}

static void
fhir_ref__urn_oid(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "urn:oid:2.16.840.1.113883.6.96", FHIR_REF_URN);
    assert_ref_bare(&r);
    assert_ref(&r, "urn:oid:1.0", FHIR_REF_URN);
}

static void
fhir_ref__urn_malformed_is_invalid(void **state)
{
    static const char *const bad[] = {
        "urn:uuid:",
        "urn:uuid:123",
        "urn:uuid:53fefa32-fcbb-4ff8-8a92-55ee120877b",
        "urn:uuid:53fefa32-fcbb-4ff8-8a92-55ee120877b77",
        "urn:uuid:53fefa32xfcbb-4ff8-8a92-55ee120877b7",
        "urn:uuid:g3fefa32-fcbb-4ff8-8a92-55ee120877b7",
        "urn:oid:",
        "urn:oid:1",
        "urn:oid:1.",
        "urn:oid:3.1",
        "urn:oid:1.02",
        "urn:oid:1..2",
        "urn:oid:1.2.",
        "urn:oid:1.2a",
    };
    fhir_ref r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_ref(&r, bad[i], FHIR_REF_INVALID);
        assert_ref_bare(&r);
    }
}

static void
fhir_ref__invalid_strings(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "Patient",
        "Patient/",
        "/Patient/1",
        "Patient/a b",
        "Patient/a\tb",
        " Patient/1",
        "Patient/1 ",
        "patient/1",
        "Pat1ent/1",
        "Pat-ient/1",
        "Patient//1",
        "Patient/1/",
        "Patient/1/_history",
        "Patient/1/_history/",
        "Patient/1/_History/2",
        "Patient/1/extra",
        "Patient/1/extra/2",
        "Patient/1/_history/2/x",
        "Patient/1/_history/a b",
        "Patient/é",
        "Patient?identifier=x",
        "Patient?identifier=http://sys|x",
        "Patient/1:2",
        "foo:",
        "1http://x/Patient/1",
        "http://x/Patient/1 ",
        "http://x/Pa tient/1",
        "://x",
        "_history/1",
    };
    fhir_ref r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_ref(&r, bad[i], FHIR_REF_INVALID);
        assert_ref_bare(&r);
    }
}

static void
fhir_ref__null_is_invalid(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, NULL, FHIR_REF_INVALID);
    assert_ref_bare(&r);
}

static void
fhir_ref__invalid_zeroes_out(void **state)
{
    fhir_ref r;
    fhir_ref zero;

    (void)state;
    memset(&zero, 0, sizeof(zero));
    memset(&r, 0xAB, sizeof(r));
    /* Fails only at the version, after type and id were read. */
    assert_ref(&r, "Patient/1/_history/a:b", FHIR_REF_INVALID);
    assert_memory_equal(&r, &zero, sizeof(r));
    memset(&r, 0xAB, sizeof(r));
    assert_ref(&r, "http://x/fhir", FHIR_REF_URL);
    zero.kind = FHIR_REF_URL;
    assert_memory_equal(&r, &zero, sizeof(r));
}

static void
fhir_ref__reuse_after_valid(void **state)
{
    fhir_ref r;

    (void)state;
    assert_ref(&r, "Patient/1/_history/2", FHIR_REF_RELATIVE);
    assert_ref(&r, "Task/9", FHIR_REF_RELATIVE);
    assert_string_equal(r.version, "");
    assert_ref(&r, "#c", FHIR_REF_CONTAINED);
    assert_string_equal(r.type, "");
}

/* ---- base64 ------------------------------------------------------------ */

static char *
b64(const char *s)
{
    fhir_buf b = FHIR_BUF_INIT;
    if (fhir_base64_decode(&b, s, strlen(s)) != 0) {
        fhir_buf_clear(&b);
        return NULL;
    }
    return fhir_buf_take(&b, NULL);
}

static void
fhir_base64__rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const v[][2] = {{"", ""},
                                       {"Zg==", "f"},
                                       {"Zm8=", "fo"},
                                       {"Zm9v", "foo"},
                                       {"Zm9vYg==", "foob"},
                                       {"Zm9vYmE=", "fooba"},
                                       {"Zm9vYmFy", "foobar"},
                                       {"Zm9v\nYmFy", "foobar"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *got = b64(v[i][0]);
        assert_non_null(got);
        assert_string_equal(got, v[i][1]);
        free(got);
    }
}

/* FNV-1a 64 reference values ("" and "a", "foobar"). */
static void
fhir_hash__fnv1a_vectors(void **state)
{
    (void)state;
    assert_true(fhir_hash(FHIR_HASH_SEED, "", 0) == 0xcbf29ce484222325ull);
    assert_true(fhir_hash(FHIR_HASH_SEED, "a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(fhir_hash(FHIR_HASH_SEED, "foobar", 6) ==
                0x85944171f73967e8ull);
}

static void
fhir_base64__invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg", "Zg=", "Z===", "Zm9v!", "Zg==Zg==", "=Zg="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(b64(bad[i]));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fhir_text__normalize_ascii_lower),
        cmocka_unit_test(fhir_text__normalize_empty),
        cmocka_unit_test(fhir_text__normalize_only_whitespace),
        cmocka_unit_test(fhir_text__normalize_whitespace_runs),
        cmocka_unit_test(fhir_text__normalize_nbsp_is_whitespace),
        cmocka_unit_test(fhir_text__normalize_control_characters_kept),
        cmocka_unit_test(fhir_text__normalize_appends),
        cmocka_unit_test(fhir_text__normalize_long_input),
        cmocka_unit_test(fhir_text__normalize_german_umlauts),
        cmocka_unit_test(fhir_text__normalize_german_eszett),
        cmocka_unit_test(fhir_text__normalize_danish_ae_and_o_slash),
        cmocka_unit_test(fhir_text__normalize_polish_l_stroke),
        cmocka_unit_test(fhir_text__normalize_spanish_enye),
        cmocka_unit_test(fhir_text__normalize_dutch_ij),
        cmocka_unit_test(fhir_text__normalize_icelandic_thorn_and_eth),
        cmocka_unit_test(fhir_text__normalize_french_oe_ligature),
        cmocka_unit_test(fhir_text__normalize_croatian_d_stroke),
        cmocka_unit_test(fhir_text__normalize_maltese_h_stroke),
        cmocka_unit_test(fhir_text__normalize_turkish_dotless_and_dotted_i),
        cmocka_unit_test(fhir_text__normalize_catalan_l_middle_dot),
        cmocka_unit_test(fhir_text__normalize_rare_latin_letters),
        cmocka_unit_test(fhir_text__normalize_signs_in_latin1_kept),
        cmocka_unit_test(fhir_text__normalize_latin_table_is_ascii),
        cmocka_unit_test(fhir_text__normalize_latin_upper_and_lower_meet),
        cmocka_unit_test(fhir_text__normalize_combining_marks_stripped),
        cmocka_unit_test(fhir_text__normalize_decomposed_meets_precomposed),
        cmocka_unit_test(fhir_text__normalize_combining_mark_alone),
        cmocka_unit_test(fhir_text__normalize_next_to_combining_range_kept),
        cmocka_unit_test(fhir_text__normalize_greek_capitals),
        cmocka_unit_test(fhir_text__normalize_greek_tonos_and_final_sigma),
        cmocka_unit_test(fhir_text__normalize_cyrillic_capitals),
        cmocka_unit_test(fhir_text__normalize_cjk_unchanged),
        cmocka_unit_test(fhir_text__normalize_four_byte_unchanged),
        cmocka_unit_test(fhir_text__normalize_invalid_bytes_copied),
        cmocka_unit_test(fhir_text__normalize_truncated_at_end),
        cmocka_unit_test(fhir_text__normalize_invalid_then_combining_kept),
        cmocka_unit_test(fhir_text__normalize_idempotent_on_names),
        cmocka_unit_test(fhir_text__normalize_same_name_meets),
        cmocka_unit_test(fhir_text__normalize_random_bytes),
        cmocka_unit_test(fhir_ref__relative),
        cmocka_unit_test(fhir_ref__relative_with_history),
        cmocka_unit_test(fhir_ref__relative_any_type_and_id_characters),
        cmocka_unit_test(fhir_ref__relative_id_length_limit),
        cmocka_unit_test(fhir_ref__version_length_limit),
        cmocka_unit_test(fhir_ref__type_length_limit),
        cmocka_unit_test(fhir_ref__absolute),
        cmocka_unit_test(fhir_ref__absolute_with_history),
        cmocka_unit_test(fhir_ref__absolute_at_server_root),
        cmocka_unit_test(fhir_ref__absolute_scheme_any_case),
        cmocka_unit_test(fhir_ref__absolute_history_without_type_id_is_url),
        cmocka_unit_test(fhir_ref__url_when_tail_is_not_type_id),
        cmocka_unit_test(fhir_ref__canonical_is_url),
        cmocka_unit_test(fhir_ref__other_schemes_are_url),
        cmocka_unit_test(fhir_ref__contained),
        cmocka_unit_test(fhir_ref__contained_needs_valid_id),
        cmocka_unit_test(fhir_ref__urn_uuid),
        cmocka_unit_test(fhir_ref__urn_oid),
        cmocka_unit_test(fhir_ref__urn_malformed_is_invalid),
        cmocka_unit_test(fhir_ref__invalid_strings),
        cmocka_unit_test(fhir_ref__null_is_invalid),
        cmocka_unit_test(fhir_ref__invalid_zeroes_out),
        cmocka_unit_test(fhir_ref__reuse_after_valid),
        cmocka_unit_test(fhir_base64__rfc4648_vectors),
        cmocka_unit_test(fhir_base64__invalid),
        cmocka_unit_test(fhir_hash__fnv1a_vectors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
