"""The web page and JSON API over the same library as the CLI (``anyport serve``; ``pip install 'anyport[web]'``)."""
