// Package llm holds memoryd's language-model clients: the embedders that
// turn text into vectors and, beside them, the chat models.
//
// Embedders share one interface, Embedder. There are two:
//
//   - LocalEmbedder (NewLocal), the default: offline, deterministic, no
//     model download, about 80,000 short texts a second on one core. Its
//     vectors mix hashed lexical features (stems, word pairs, character
//     n-grams) with word meaning (averaged GloVe vectors shipped in the
//     binary), words weighed by their rarity in spoken English.
//   - OpenAIEmbedder (NewOpenAI), for any OpenAI-compatible /v1/embeddings
//     endpoint, with batching, per-attempt timeouts and retries.
//
// CachedEmbedder (NewCached) wraps a remote embedder so that each distinct
// text is embedded once; the local embedder is faster than the cache's
// hashing and needs none.
//
// Vectors record their embedder with IDOf; CheckModel compares a stored
// identity with the configured one at start and reports a change.
//
// # Searching with the local embedder
//
// Stored vectors cannot use corpus statistics (they would have to change
// with every insert), but query vectors can. Keep a TermStats per tenant
// (LocalEmbedder.NewTermStats), Add every memory's text and Remove deleted
// ones, and embed queries with LocalEmbedder.EmbedQuery. On the LoCoMo
// measure this lifts recall@10 of cosine search from 0.55 to 0.61, and
// fused by reciprocal rank with BM25 to 0.63 (BM25 alone: 0.61). See
// quality_test.go for the measure and the other figures.
package llm
