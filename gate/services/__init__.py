"""Writes of the gate, one module per seam: `decide` (answering a request and tripping the
breaker), `breaker` (its baseline, reset and alert), `rule_set` (the owner's rules),
`holds` (people's decisions on held actions) and `sweep` (beat's due work: expiry, breakers
back within their limit, owed alerts). Callers import the module they need."""
