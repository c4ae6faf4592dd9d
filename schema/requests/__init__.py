"""Update requests: the request, its progress and history, the list, the mutations on requests,
and the live events subscription."""
