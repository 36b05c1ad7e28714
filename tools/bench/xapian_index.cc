// xapian_index: the Xapian peer of the indexing benchmark (tools/bench/index.sh).
//
// Builds a Xapian database (Xapian::DB_CREATE_OR_OVERWRITE) from a BEIR JSON-lines
// corpus (one {"_id","title","text"} object per line), the way Xapian's own
// "getting started" indexer does: TermGenerator with the English stemmer, positions
// indexed; the title indexed twice, once with the "S" prefix (field search, like kq's
// title:term) and once unprefixed with the body (so bare words match titles); the
// body unprefixed; an id term "Q<_id>" (added, not replaced: ids are unique); the original JSON line as document data
// (kq keeps a document store too). --no-data leaves the document data empty.
//
// Usage: xapian_index [--no-data] DIR [FILE|-]
// Reads FILE (or standard input when FILE is absent or "-") and prints one JSON line:
//   {"documents":N,"input_bytes":N,"seconds":F}
// Exit status 0 on success, 1 on bad input or a Xapian error, 2 on bad usage.
#include <jansson.h>
#include <xapian.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

namespace {

void usage(std::FILE *out)
{
    std::fputs("usage: xapian_index [--no-data] DIR [FILE|-]\n"
               "Builds a Xapian index (English stemmer, positions, title and text)\n"
               "from a BEIR JSON-lines corpus into DIR (overwritten).\n",
               out);
}

// A string field of a BEIR object: the JSON string, "" when absent or null, a number
// printed as text; false for anything else.
bool field_text(json_t *obj, const char *key, std::string &out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        out.clear();
        return true;
    }
    if (json_is_string(v)) {
        out.assign(json_string_value(v), json_string_length(v));
        return true;
    }
    if (json_is_integer(v)) {
        out = std::to_string(static_cast<long long>(json_integer_value(v)));
        return true;
    }
    return false;
}

} // namespace

int main(int argc, char **argv)
{
    bool store_data = true;
    int i = 1;
    for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; i++) {
        if (std::strcmp(argv[i], "--no-data") == 0) {
            store_data = false;
        } else if (std::strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (std::strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (argc - i < 1 || argc - i > 2) {
        usage(stderr);
        return 2;
    }
    const char *dbpath = argv[i];
    const char *inpath = argc - i == 2 ? argv[i + 1] : "-";

    std::FILE *in = stdin;
    if (std::strcmp(inpath, "-") != 0) {
        in = std::fopen(inpath, "r");
        if (!in) {
            std::fprintf(stderr, "xapian_index: %s: %s\n", inpath, std::strerror(errno));
            return 1;
        }
    }

    auto start = std::chrono::steady_clock::now();
    long long docs = 0, input_bytes = 0, lineno = 0;
    char *line = nullptr;
    size_t cap = 0;
    int status = 0;
    try {
        Xapian::WritableDatabase db(dbpath, Xapian::DB_CREATE_OR_OVERWRITE);
        Xapian::TermGenerator tg;
        tg.set_stemmer(Xapian::Stem("english"));
        std::string id, title, body;
        ssize_t n;
        while ((n = getline(&line, &cap, in)) != -1) {
            lineno++;
            input_bytes += n;
            size_t len = static_cast<size_t>(n);
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                               line[len - 1] == ' ' || line[len - 1] == '\t'))
                len--;
            if (len == 0)
                continue;
            json_error_t jerr;
            json_t *obj = json_loadb(line, len, 0, &jerr);
            if (!obj || !json_is_object(obj)) {
                std::fprintf(stderr, "xapian_index: %s:%lld: %s\n", inpath, lineno,
                             obj ? "not a JSON object" : jerr.text);
                json_decref(obj);
                status = 1;
                break;
            }
            bool ok = field_text(obj, "_id", id) && field_text(obj, "title", title) &&
                      field_text(obj, "text", body);
            json_decref(obj);
            if (!ok) {
                std::fprintf(stderr,
                             "xapian_index: %s:%lld: _id, title and text must be strings\n",
                             inpath, lineno);
                status = 1;
                break;
            }
            Xapian::Document doc;
            tg.set_document(doc);
            tg.index_text(title, 1, "S");
            tg.index_text(title);
            tg.increase_termpos();
            tg.index_text(body);
            if (store_data)
                doc.set_data(std::string(line, len));
            // add_document, not replace_document(idterm): the corpus has unique ids and
            // the lookup costs Xapian about 15% of its time.
            doc.add_boolean_term("Q" + id);
            db.add_document(doc);
            docs++;
        }
        if (status == 0 && std::ferror(in)) {
            std::fprintf(stderr, "xapian_index: %s: read error\n", inpath);
            status = 1;
        }
        if (status == 0) {
            db.commit();
            db.close();
        }
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "xapian_index: %s: %s\n", dbpath, e.get_description().c_str());
        status = 1;
    }
    std::free(line);
    if (in != stdin)
        std::fclose(in);
    if (status != 0)
        return status;
    std::chrono::duration<double> secs = std::chrono::steady_clock::now() - start;
    std::printf("{\"documents\":%lld,\"input_bytes\":%lld,\"seconds\":%.3f}\n", docs,
                input_bytes, secs.count());
    return 0;
}
