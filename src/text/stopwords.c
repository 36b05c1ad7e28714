/* text/stopwords.c: the stop words of a language, for ranked free-text queries.
 *
 * Documents are indexed with every word, so phrases such as "war of the worlds" match
 * exactly. Only the query parser asks for stop words: a bare word of a ranked OR that is a
 * stop word adds little but noise and time (its idf is near 0 while it matches most
 * documents), so the parser drops it when the query holds another word (query.h).
 *
 * The English list is Snowball's (snowballstem.org, algorithms/english/stop.txt), the list
 * that goes with the stemmer kq uses, written as the analyser folds words: apostrophes
 * between letters dropped (don't -> dont), a final possessive 's removed (it's -> it).
 * Contractions that fold into ordinary words (he'll -> hell, we'll -> well, I'd -> id,
 * she'll, she'd, we'd, I'll) are left out: dropping `well` or `shell` would lose meaning.
 * Other languages have no list yet: none of their words is a stop word.
 *
 * Invariant: each list is sorted by strcmp, without duplicates (a unit test checks), so a
 * binary search finds a word.
 */
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

static const char *const english[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "arent", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "cannot", "cant", "could", "couldnt", "did", "didnt", "do", "does", "doesnt",
    "doing", "dont", "down", "during", "each", "few", "for", "from", "further", "had", "hadnt",
    "has", "hasnt", "have", "havent", "having", "he", "hed", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "im", "in", "into", "is", "isnt", "it", "its",
    "itself", "ive", "lets", "me", "more", "most", "mustnt", "my", "myself", "no", "nor", "not",
    "of", "off", "on", "once", "only", "or", "other", "ought", "our", "ours", "ourselves",
    "out", "over", "own", "same", "shant", "she", "should", "shouldnt", "so", "some", "such",
    "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these",
    "they", "theyd", "theyll", "theyre", "theyve", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "wasnt", "we", "were", "werent", "weve", "what",
    "when", "where", "which", "while", "who", "whom", "why", "with", "wont", "would", "wouldnt",
    "you", "youd", "youll", "your", "youre", "yours", "yourself", "yourselves", "youve",
};

static int cmp_word(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

const char *const *kq__stopword_list(const char *language, size_t *n)
{
    if (language && !strcmp(language, "english")) {
        *n = sizeof english / sizeof *english;
        return english;
    }
    *n = 0;
    return NULL;
}

int kq__stopword(const char *const *list, size_t n, const char *word, size_t len)
{
    char key[16];
    if (!n || len == 0 || len >= sizeof key) /* the longest stop word is shorter */
        return 0;
    memcpy(key, word, len);
    key[len] = '\0';
    return bsearch(key, list, n, sizeof *list, cmp_word) != NULL;
}
