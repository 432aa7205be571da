// Result and parameter types, camelCase. Results are the server's JSON with keys
// converted, so fields this SDK does not know yet are still there at run time.
// Times are the server's RFC 3339 strings; Date values passed in are sent as such.
export {};
