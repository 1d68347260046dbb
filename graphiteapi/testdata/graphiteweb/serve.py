"""Runs graphite-web (Debian's package) on a free 127.0.0.1 port for
graphiteapi's tests: prints the port on its first line once it listens,
then serves until killed. It creates its sqlite database first (the
treejson find reads the default user profile from it). Settings: ringrelay_settings.py beside this file,
with RINGRELAY_TMP and RINGRELAY_CLUSTER_SERVER in the environment."""
import os
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ['DJANGO_SETTINGS_MODULE'] = 'ringrelay_settings'
os.makedirs(os.path.join(os.environ['RINGRELAY_TMP'], 'log'), exist_ok=True)

import django  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

django.setup()
call_command('migrate', verbosity=0, interactive=False)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        sys.stderr.write('graphite-web: ' + (format % args) + '\n')


app = get_wsgi_application()
server = make_server('127.0.0.1', 0, app, handler_class=QuietHandler)
print(server.server_port, flush=True)
server.serve_forever()
