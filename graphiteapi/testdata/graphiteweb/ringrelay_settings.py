# Django settings for the graphite-web that graphiteapi's tests run as a
# cluster client of ringrelay (graphiteweb_test.go). It reads the Debian
# package's defaults, then keeps everything in RINGRELAY_TMP and reads data
# only from the one CLUSTER_SERVERS entry, ringrelay's API.
import os
from graphite.settings import *  # noqa: F401,F403

_tmp = os.environ['RINGRELAY_TMP']
SECRET_KEY = 'ringrelay-graphiteapi-test'
CLUSTER_SERVERS = [os.environ['RINGRELAY_CLUSTER_SERVER']]
STORAGE_FINDERS = ('graphite.finders.remote.RemoteFinder',)
STORAGE_DIR = WHISPER_DIR = os.path.join(_tmp, 'whisper')
LOG_DIR = os.path.join(_tmp, 'log')
INDEX_FILE = os.path.join(_tmp, 'search_index')
TAGDB = ''
USE_WORKER_POOL = False
REMOTE_RETRY_DELAY = 0
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': os.path.join(_tmp, 'graphite.db')}}
TIME_ZONE = 'UTC'
