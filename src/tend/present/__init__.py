"""What people see, shared by tend's faces: the command today, the local page next.

Presentation lives here and not in core: the report's HTML page and its charts, drawn from the
models core computes (tend.core.views). Nothing here imports a face (tend.cli), so each face can
use what fits; matplotlib is imported only here, inside the function that draws.
"""
