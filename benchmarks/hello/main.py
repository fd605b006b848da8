"""The baseline: a bare functions-framework HTTP function, the smallest thing Cloud Functions runs."""

import functions_framework


@functions_framework.http
def hello(request):
    return "hello"
