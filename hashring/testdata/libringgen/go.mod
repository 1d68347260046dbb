module libringgen

go 1.26

require github.com/dgryski/go-jump v0.0.0-20170409065014-e1f439676b57
