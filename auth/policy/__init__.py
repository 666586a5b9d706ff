"""The privacy policy, as one declaration that both executors read.

- `scopes`, `purposes`: the OAuth scopes and the processing purposes;
- `catalog`: the data types and their fields (tables, columns, kinds, relations, erasure) with
  the field rules (the table of SPEC section 4), written once in the words of `vocabulary`;
  `table`: that table as text;
- `roots`: the root-field rules (scopes, purpose needed, always audited);
- `row_rules`: the row rules, as SQL conditions;
- `decision`: the one decision for a field (visible, a form, owned-only, hidden) and the one
  row condition for a table;
- `plan`, `request`: the policy decided once per request;
- `view`: what a set of scopes gets of each field per purpose, and can ever unlock (partner
  contracts, per-caller schemas), derived from the above.

It knows no web framework, no GraphQL library and no token format (``make check`` enforces it).
"""
