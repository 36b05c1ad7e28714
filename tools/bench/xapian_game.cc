// xapian_game: the Xapian peer of the query benchmark (tools/bench/query.sh), behind the
// protocol of "Search Benchmark, the Game" (see kq_game.c): reads lines
// `COMMAND<TAB>query` on standard input and answers each with one line, flushed.
//
// The database is the one xapian_index builds (TermGenerator, English stemmer, title and
// body unprefixed, positions). Queries go through Xapian::QueryParser with the English
// stemmer (STEM_SOME, as the TermGenerator indexed), default operator OR and
// FLAG_PHRASE | FLAG_LOVEHATE | FLAG_BOOLEAN: `a b` OR, `+a +b` AND, `"a b"` phrase,
// `a -x` AND_NOT, `+a b` a AND_MAYBE b: the game's syntax as it is.
//
//   COUNT         get_mset(0, 0, doccount) with BoolWeight: with check_at_least at least
//                 the number of documents the matcher counts every match, so
//                 get_matches_estimated() is exact (a plain get_mset only estimates)
//   TOP_k         get_mset(0, k) ranked by BM25Weight (Xapian's default); prints 1 (the
//                 game's convention), or with --hits the size of the MSet
//   TOP_10_COUNT  get_mset(0, 10, doccount); prints the exact count
//   else          UNSUPPORTED (also for a query the parser rejects)
//
// Usage: xapian_game [--hits] DIR
// Exit status: 0 at end of input, 1 on a Xapian error, 2 on bad usage.
#include <xapian.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

namespace {

struct Command {
    const char *name;
    Xapian::doccount k;
    bool count;
};

const Command commands[] = {
    {"COUNT", 0, true},      {"TOP_10", 10, false},       {"TOP_100", 100, false},
    {"TOP_1000", 1000, false}, {"TOP_10_COUNT", 10, true},
};

const Command *find_command(const std::string &name)
{
    for (const Command &c : commands) {
        if (name == c.name)
            return &c;
    }
    return nullptr;
}

} // namespace

int main(int argc, char **argv)
{
    const char *path = nullptr;
    bool print_hits = false;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--hits") == 0) {
            print_hits = true;
        } else if (argv[i][0] == '-' || path) {
            std::fputs("usage: xapian_game [--hits] DIR\n", stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        std::fputs("usage: xapian_game [--hits] DIR\n", stderr);
        return 2;
    }
    try {
        Xapian::Database db(path);
        const Xapian::doccount n_docs = db.get_doccount();
        Xapian::QueryParser qp;
        qp.set_database(db);
        qp.set_stemmer(Xapian::Stem("english"));
        qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
        qp.set_default_op(Xapian::Query::OP_OR);
        const unsigned flags = Xapian::QueryParser::FLAG_PHRASE |
                               Xapian::QueryParser::FLAG_LOVEHATE |
                               Xapian::QueryParser::FLAG_BOOLEAN;
        Xapian::Enquire ranked(db);
        Xapian::Enquire counting(db);
        counting.set_weighting_scheme(Xapian::BoolWeight());
        counting.set_docid_order(Xapian::Enquire::DONT_CARE);

        std::string line;
        while (std::getline(std::cin, line)) {
            while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
                line.pop_back();
            const std::string::size_type tab = line.find('\t');
            const Command *cmd =
                tab == std::string::npos ? nullptr : find_command(line.substr(0, tab));
            if (!cmd) {
                std::fputs("UNSUPPORTED\n", stdout);
            } else {
                const std::string text = line.substr(tab + 1);
                Xapian::Query query;
                bool ok = true;
                try {
                    query = qp.parse_query(text, flags);
                } catch (const Xapian::QueryParserError &e) {
                    std::fprintf(stderr, "xapian_game: query '%s': %s\n", text.c_str(),
                                 e.get_description().c_str());
                    ok = false;
                }
                if (!ok) {
                    std::fputs("UNSUPPORTED\n", stdout);
                } else if (cmd->k == 0) {
                    counting.set_query(query);
                    Xapian::MSet m = counting.get_mset(0, 0, n_docs);
                    std::printf("%lu\n", static_cast<unsigned long>(m.get_matches_estimated()));
                } else {
                    ranked.set_query(query);
                    Xapian::MSet m = cmd->count ? ranked.get_mset(0, cmd->k, n_docs)
                                                : ranked.get_mset(0, cmd->k);
                    unsigned long out = cmd->count ? m.get_matches_estimated()
                                        : print_hits ? m.size()
                                                     : 1UL;
                    std::printf("%lu\n", out);
                }
            }
            if (std::fflush(stdout) != 0)
                return 1;
        }
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "xapian_game: %s\n", e.get_description().c_str());
        return 1;
    }
    return 0;
}
