# wrong.problems.yaml fails by design (one wrong `expect` per problem): the
# verifier pytest plugin would otherwise collect it as a bank that must pass.
# Tests load it explicitly and assert the failures.
collect_ignore = ["wrong.problems.yaml"]
