"""The privacy policy, as one declaration that both executors read.

- `scopes`, `purposes`: the OAuth scopes and the processing purposes;
- `fields`: the field rules (the table of SPEC section 4);
- `roots`: the root-field rules (scopes, purpose needed, always audited);
- `datatypes`: the data types, their tables, node scopes and owner rules;
- `rows`: the row rules, as SQL conditions;
- `plan`, `scope`: the policy decided once per request;
- `view`: what a set of scopes gets of each field per purpose, and can ever unlock (partner
  contracts, per-caller schemas), derived from the above.

It knows no web framework, no GraphQL library and no token format (``make check`` enforces it).
"""
