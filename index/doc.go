// Package index holds memoryd's in-memory search structures: a vector index
// (HNSW for large tenants, an exact scan for small ones, and an adaptive index
// that picks between them) and a BM25 keyword index.
//
// Everything here is derived data. bbolt is the truth; an index is either
// loaded from a snapshot that names the store state it matches, or rebuilt
// from the store. The package knows nothing of HTTP or bbolt.
//
// Every index is safe for many concurrent readers beside one writer at a time.
package index
