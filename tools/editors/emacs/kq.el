;;; kq.el --- Search a kq full-text index through the kqd daemon  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: matching, tools

;;; Commentary:

;; `M-x kq' asks the kqd daemon of your document index for the best matches of a query
;; (the query language of kq: words, "phrases", +required, -excluded, AND/OR/NOT,
;; prefix*, title:word, word^2) and lists them, best first, in a `*kq*' buffer in the
;; style of `compilation-mode': RET visits the file at the line and column of the match,
;; n and p move between hits and show them, M-g n / M-g p (`next-error') work from any
;; buffer, g runs the search again.  With a prefix argument the query is free text (no
;; operators).  `M-x kq-status' shows the daemon's figures, `M-x kq-start' starts it.
;;
;; The package speaks only the kqd protocol, version 1 (src/server/PROTOCOL.md in the kq
;; sources), over the daemon's Unix socket, found as the kq command finds it: the index
;; is `kq-index', else $KQ_INDEX, else the nearest .kq/ above `default-directory'; the
;; socket is `kq-socket', else kqd.sock in the index, or, when that path is too long for
;; a socket address, $XDG_RUNTIME_DIR/kq/<XXH3 of the index path>.sock.
;;
;; The first page of hits is shown as soon as its answer arrives; the following pages
;; are requested together and appended in rank order as their answers come.  A newer
;; search supersedes the one still running: it ends then, and the newer one keeps `*kq*'.
;;
;; A hit in a JSON-lines document (one document per line of a *.jsonl file) shows the
;; document's text from kqd in `*kq ID*' (`*kq ID*<2>' for another file's document of
;; the same id), at the hit's first matched word: its line is the one of the .jsonl file.
;;
;; Install: put this file in a directory of `load-path' and (require 'kq), or
;; (autoload 'kq "kq" nil t).

;;; Code:

(require 'cl-lib)
(require 'compile)                      ; its faces
(require 'json)
(require 'seq)
(require 'subr-x)

(defgroup kq nil
  "Search a kq index through the kqd daemon."
  :group 'matching
  :prefix "kq-")

(defcustom kq-index nil
  "The index directory, or nil for $KQ_INDEX, else the nearest .kq/ upwards."
  :type '(choice (const :tag "Find it" nil) directory))

(defcustom kq-socket nil
  "The daemon's socket, or nil for the protocol's rule for the index."
  :type '(choice (const :tag "The index's" nil) file))

(defcustom kq-limit 100
  "Hits wanted in all."
  :type 'natnum)

(defcustom kq-page 25
  "Hits per request: the first page is shown before the others arrive."
  :type 'natnum)

(defcustom kq-start-kqd 'ask
  "What to do when no kqd answers on the index's socket."
  :type '(choice (const :tag "Ask" ask) (const :tag "Start it" always)
                 (const :tag "Say how" never)))

(defcustom kq-kqd-program "kqd"
  "The daemon program."
  :type 'string)

(defcustom kq-timeout 10
  "Seconds to wait for each answer."
  :type 'number)

(defcustom kq-search-finished-functions nil
  "Functions called once when a search ends, with ERROR (nil or an alist with
`code' and `message') and INFO (a plist: :total, :shown, :pages).  A search that
a newer one supersedes ends then, with the code \"superseded\"."
  :type 'hook)

(defconst kq-protocol 1 "The kqd protocol version this package speaks.")

(defface kq-match '((t :inherit match))
  "Face of the matched words in snippets.")

;;;; XXH3-64 (xxHash 0.8, seed 0, default secret), for the socket name of deep indexes

(defconst kq--secret
  (unibyte-string
   #xb8 #xfe #x6c #x39 #x23 #xa4 #x4b #xbe #x7c #x01 #x81 #x2c #xf7 #x21 #xad #x1c
   #xde #xd4 #x6d #xe9 #x83 #x90 #x97 #xdb #x72 #x40 #xa4 #xa4 #xb7 #xb3 #x67 #x1f
   #xcb #x79 #xe6 #x4e #xcc #xc0 #xe5 #x78 #x82 #x5a #xd0 #x7d #xcc #xff #x72 #x21
   #xb8 #x08 #x46 #x74 #xf7 #x43 #x24 #x8e #xe0 #x35 #x90 #xe6 #x81 #x3a #x26 #x4c
   #x3c #x28 #x52 #xbb #x91 #xc3 #x00 #xcb #x88 #xd0 #x65 #x8b #x1b #x53 #x2e #xa3
   #x71 #x64 #x48 #x97 #xa2 #x0d #xf9 #x4e #x38 #x19 #xef #x46 #xa9 #xde #xac #xd8
   #xa8 #xfa #x76 #x3f #xe3 #x9c #x34 #x3f #xf9 #xdc #xbb #xc7 #xc7 #x0b #x4f #x1d
   #x8a #x51 #xe0 #x4b #xcd #xb4 #x59 #x31 #xc8 #x9f #x7e #xc9 #xd9 #x78 #x73 #x64
   #xea #xc5 #xac #x83 #x34 #xd3 #xeb #xc3 #xc5 #x81 #xa0 #xff #xfa #x13 #x63 #xeb
   #x17 #x0d #xdd #x51 #xb7 #xf0 #xda #x49 #xd3 #x16 #x55 #x26 #x29 #xd4 #x68 #x9e
   #x2b #x16 #xbe #x58 #x7d #x47 #xa1 #xfc #x8f #xf8 #xb8 #xd1 #x7a #xd0 #x31 #xce
   #x45 #xcb #x3a #x8f #x95 #x16 #x04 #x28 #xaf #xd7 #xfb #xca #xbb #x4b #x40 #x7e)
  "XXH3's default secret.")

(defconst kq--m64 #xffffffffffffffff)
(defconst kq--prime32-1 #x9E3779B1)
(defconst kq--prime32-2 #x85EBCA77)
(defconst kq--prime32-3 #xC2B2AE3D)
(defconst kq--prime64-1 #x9E3779B185EBCA87)
(defconst kq--prime64-2 #xC2B2AE3D27D4EB4F)
(defconst kq--prime64-3 #x165667B19E3779F9)
(defconst kq--prime64-4 #x85EBCA77C2B2AE63)
(defconst kq--prime64-5 #x27D4EB2F165667C5)
(defconst kq--prime-mx1 #x165667919E3779F9)
(defconst kq--prime-mx2 #x9FB21C651E98DF25)

(defun kq--r32 (s off)
  "The little-endian 32-bit word at byte OFF of the unibyte string S."
  (logior (aref s off) (ash (aref s (+ off 1)) 8)
          (ash (aref s (+ off 2)) 16) (ash (aref s (+ off 3)) 24)))

(defun kq--r64 (s off)
  "The little-endian 64-bit word at byte OFF of the unibyte string S."
  (logior (kq--r32 s off) (ash (kq--r32 s (+ off 4)) 32)))

(defun kq--mul (a b) (logand (* a b) kq--m64))
(defun kq--add (&rest xs) (logand (apply #'+ xs) kq--m64))
(defun kq--xorshift (h n) (logxor h (ash h (- n))))
(defun kq--rotl (h n) (logand (logior (ash h n) (ash h (- n 64))) kq--m64))

(defun kq--fold (a b)
  "The 128-bit product of A and B, its halves xored."
  (let ((p (* a b))) (logxor (logand p kq--m64) (ash p -64))))

(defun kq--avalanche (h)
  (kq--xorshift (kq--mul (kq--xorshift h 37) kq--prime-mx1) 32))

(defun kq--xxh64-avalanche (h)
  (setq h (kq--mul (kq--xorshift h 33) kq--prime64-2))
  (setq h (kq--mul (kq--xorshift h 29) kq--prime64-3))
  (kq--xorshift h 32))

(defun kq--mix16 (s off soff)
  (kq--fold (logxor (kq--r64 s off) (kq--r64 kq--secret soff))
            (logxor (kq--r64 s (+ off 8)) (kq--r64 kq--secret (+ soff 8)))))

(defun kq--xxh3-short (s len)
  (cond
   ((> len 8)
    (let ((lo (logxor (kq--r64 s 0) (kq--r64 kq--secret 24) (kq--r64 kq--secret 32)))
          (hi (logxor (kq--r64 s (- len 8)) (kq--r64 kq--secret 40) (kq--r64 kq--secret 48)))
          (swapped 0))
      (dotimes (i 8)
        (setq swapped (logior (ash swapped 8) (logand (ash lo (* -8 i)) #xff))))
      (kq--avalanche (kq--add len swapped hi (kq--fold lo hi)))))
   ((>= len 4)
    (let* ((in64 (logior (ash (kq--r32 s 0) 32) (kq--r32 s (- len 4))))
           (h (logxor in64 (kq--r64 kq--secret 8) (kq--r64 kq--secret 16))))
      (setq h (logxor h (kq--rotl h 49) (kq--rotl h 24)))
      (setq h (kq--mul h kq--prime-mx2))
      (setq h (logxor h (+ (ash h -35) len)))
      (setq h (kq--mul h kq--prime-mx2))
      (kq--xorshift h 28)))
   ((> len 0)
    (let ((combined (logior (ash (aref s 0) 16) (ash (aref s (ash len -1)) 24)
                            (aref s (1- len)) (ash len 8))))
      (kq--xxh64-avalanche
       (logxor combined (kq--r32 kq--secret 0) (kq--r32 kq--secret 4)))))
   (t (kq--xxh64-avalanche (logxor (kq--r64 kq--secret 56) (kq--r64 kq--secret 64))))))

(defun kq--xxh3-mid (s len)
  (let ((acc (kq--mul len kq--prime64-1)))
    (if (<= len 128)
        (progn
          (when (> len 32)
            (when (> len 64)
              (when (> len 96)
                (setq acc (kq--add acc (kq--mix16 s 48 96) (kq--mix16 s (- len 64) 112))))
              (setq acc (kq--add acc (kq--mix16 s 32 64) (kq--mix16 s (- len 48) 80))))
            (setq acc (kq--add acc (kq--mix16 s 16 32) (kq--mix16 s (- len 32) 48))))
          (kq--avalanche (kq--add acc (kq--mix16 s 0 0) (kq--mix16 s (- len 16) 16))))
      (dotimes (i 8)
        (setq acc (kq--add acc (kq--mix16 s (* 16 i) (* 16 i)))))
      (setq acc (kq--avalanche acc))
      (cl-loop for i from 8 below (/ len 16)
               do (setq acc (kq--add acc (kq--mix16 s (* 16 i) (+ (* 16 (- i 8)) 3)))))
      (kq--avalanche (kq--add acc (kq--mix16 s (- len 16) (- 136 17)))))))

(defun kq--accumulate (acc s off soff)
  (dotimes (i 8)
    (let* ((val (kq--r64 s (+ off (* 8 i))))
           (key (logxor val (kq--r64 kq--secret (+ soff (* 8 i)))))
           (j (logxor i 1)))
      (aset acc j (kq--add (aref acc j) val))
      (aset acc i (kq--add (aref acc i) (* (logand key #xffffffff) (ash key -32)))))))

(defun kq--xxh3-long (s len)
  (let* ((acc (vector kq--prime32-3 kq--prime64-1 kq--prime64-2 kq--prime64-3
                      kq--prime64-4 kq--prime32-2 kq--prime64-5 kq--prime32-1))
         (ssize (length kq--secret))
         (per-block (/ (- ssize 64) 8))
         (block-len (* 64 per-block))
         (nblocks (/ (1- len) block-len))
         (result (kq--mul len kq--prime64-1)))
    (dotimes (n nblocks)
      (dotimes (k per-block)
        (kq--accumulate acc s (+ (* n block-len) (* 64 k)) (* 8 k)))
      (dotimes (i 8)
        (aset acc i (kq--mul (logxor (kq--xorshift (aref acc i) 47)
                                     (kq--r64 kq--secret (+ (- ssize 64) (* 8 i))))
                             kq--prime32-1))))
    (dotimes (k (/ (- (1- len) (* block-len nblocks)) 64))
      (kq--accumulate acc s (+ (* nblocks block-len) (* 64 k)) (* 8 k)))
    (kq--accumulate acc s (- len 64) (- ssize 64 7))
    (dotimes (i 4)
      (setq result (kq--add result (kq--fold
                                    (logxor (aref acc (* 2 i)) (kq--r64 kq--secret (+ 11 (* 16 i))))
                                    (logxor (aref acc (1+ (* 2 i)))
                                            (kq--r64 kq--secret (+ 11 (* 16 i) 8)))))))
    (kq--avalanche result)))

(defun kq--xxh3-hex (bytes)
  "XXH3-64 of the unibyte string BYTES, as 16 lowercase hex digits."
  (let ((len (length bytes)))
    (format "%016x" (cond ((<= len 16) (kq--xxh3-short bytes len))
                          ((<= len 240) (kq--xxh3-mid bytes len))
                          (t (kq--xxh3-long bytes len))))))

;;;; Finding the index and its socket

(defun kq--encode-file-name (name)
  (encode-coding-string name (or file-name-coding-system default-file-name-coding-system
                                 'utf-8)))

(defun kq--find-index ()
  "The index directory, absolute and resolved, or (error . MESSAGE)."
  (let ((dir (or kq-index (let ((e (getenv "KQ_INDEX"))) (and e (not (string-empty-p e)) e)))))
    (if dir
        (let ((full (directory-file-name (file-truename (expand-file-name dir)))))
          (if (file-directory-p full)
              full
            (cons 'error (format "index '%s' not found" dir))))
      (let ((found (locate-dominating-file
                    (file-truename default-directory)
                    (lambda (d) (file-exists-p (expand-file-name ".kq/MANIFEST" d))))))
        (if found
            (directory-file-name (expand-file-name ".kq" found))
          (cons 'error (concat "no index found (no .kq/ here or above; build one with "
                               "'kq-index PATH', or set `kq-index' or $KQ_INDEX)")))))))

(defun kq--socket-path (index)
  "Where kqd listens for the absolute index directory INDEX.
The rule of PROTOCOL.md, Conventions."
  (let ((p (concat (file-name-as-directory index) "kqd.sock")))
    (if (<= (length (kq--encode-file-name p)) 107)
        p
      (let ((h (kq--xxh3-hex (kq--encode-file-name index)))
            (rt (getenv "XDG_RUNTIME_DIR")))
        (if (and rt (not (string-empty-p rt)))
            (format "%s/kq/%s.sock" rt h)
          (format "/tmp/kq-%d/%s.sock" (user-real-uid) h))))))

(defun kq--target ()
  "A plist (:index DIR :socket PATH) for this request, or (error . MSG)."
  (let ((index (kq--find-index)))
    (cond ((stringp index)
           (list :index index :socket (if kq-socket (expand-file-name kq-socket)
                                        (kq--socket-path index))))
          (kq-socket (list :index nil :socket (expand-file-name kq-socket)))
          (t index))))

;;;; The connection

(cl-defstruct (kq--conn (:constructor kq--conn-make))
  process (pending (make-hash-table)) (next-id 1) (buf "") last-error closed)

(defun kq--json-read (line)
  ;; json-parse-string refuses the escape \u0000 (a document's title or text may hold
  ;; it): each becomes \ufffd; only an escape, preceded by an even number of backslashes
  (let ((case-fold-search nil))
    (while (string-match "\\(?:\\`\\|[^\\]\\)\\(?:\\\\\\\\\\)*\\(\\\\u0000\\)" line)
      (setq line (replace-match "\\ufffd" t t line 1))))
  (if (fboundp 'json-parse-string)
      (json-parse-string line :object-type 'alist :array-type 'array
                         :null-object nil :false-object nil)
    (let ((json-object-type 'alist) (json-array-type 'vector)
          (json-null nil) (json-false nil))
      (json-read-from-string line))))

(defun kq--call (cb &rest args)
  "Call CB with ARGS, turning a Lisp error into a message (never a backtrace)."
  (condition-case e
      (apply cb args)
    (error (message "kq: %s" (error-message-string e)))))

(defun kq--fail-all (conn err)
  (let ((pending (kq--conn-pending conn)))
    (setf (kq--conn-pending conn) (make-hash-table))
    (maphash (lambda (_id p)
               (when (cdr p) (cancel-timer (cdr p)))
               (kq--call (car p) err nil))
             pending)))

(defun kq--close (conn)
  (unless (kq--conn-closed conn)
    (setf (kq--conn-closed conn) t)
    (let ((proc (kq--conn-process conn)))
      (when (process-live-p proc) (delete-process proc)))
    (kq--fail-all conn '((code . "closed") (message . "the connection was closed")))))

(defun kq--line (conn line)
  (unless (string-match-p "\\`[ \t\r]*\\'" line)
    (let ((msg (condition-case nil
                   (kq--json-read (decode-coding-string line 'utf-8))
                 (error nil))))
      (if (not (consp msg))
          (progn
            (kq--fail-all conn '((code . "bad_answer")
                                 (message . "kqd sent a line that is not a JSON object")))
            (kq--close conn))
        (let* ((id (alist-get 'id msg))
               (p (and id (gethash id (kq--conn-pending conn)))))
          (cond
           ((null id)
            ;; the server's last word before it closes (timeout, too_large, shutting_down)
            (when (alist-get 'error msg)
              (setf (kq--conn-last-error conn) (alist-get 'error msg))))
           (p
            (remhash id (kq--conn-pending conn))
            (when (cdr p) (cancel-timer (cdr p)))
            (let ((err (alist-get 'error msg)) (result (alist-get 'result msg)))
              (cond (err
                     (unless (stringp (alist-get 'message err))
                       (setf (alist-get 'message err) (format "%s" (alist-get 'code err))))
                     (kq--call (car p) err nil))
                    (result (kq--call (car p) nil result))
                    (t (kq--call (car p)
                                 '((code . "bad_answer")
                                   (message . "kqd sent an answer without result or error"))
                                 nil)))))))))))

(defun kq--filter (conn chunk)
  (setf (kq--conn-buf conn) (concat (kq--conn-buf conn) chunk))
  (let (nl)
    (while (and (not (kq--conn-closed conn))
                (setq nl (string-match-p "\n" (kq--conn-buf conn))))
      (let ((line (substring (kq--conn-buf conn) 0 nl)))
        (setf (kq--conn-buf conn) (substring (kq--conn-buf conn) (1+ nl)))
        (kq--line conn (string-remove-suffix "\r" line))))))

(defun kq--sentinel (conn event)
  (unless (kq--conn-closed conn)
    (kq--fail-all conn (or (kq--conn-last-error conn)
                           `((code . "closed")
                             (message . ,(concat "kqd closed the connection: "
                                                 (string-trim event))))))
    (kq--close conn)))

(defun kq--connect (socket)
  "A connection to SOCKET, or (error CODE . MESSAGE)."
  (let ((conn (kq--conn-make))
        (owner (file-attribute-user-id (file-attributes socket 'integer))))
    (condition-case e
        (if (and owner (/= owner (user-uid)))
            ;; as kq does, never trust a socket someone else made
            (cons 'error
                  (cons 'untrusted
                        (format "the socket %s belongs to another user; not using it"
                                socket)))
        (progn
          (setf (kq--conn-process conn)
                (make-network-process
                 :name "kq" :family 'local :service socket :coding 'binary
                 :noquery t :buffer nil
                 :filter (lambda (_proc chunk) (kq--filter conn chunk))
                 :sentinel (lambda (_proc event) (kq--sentinel conn event))))
          conn))
      (file-error
       (let ((why (error-message-string e)))
         (cons 'error
               (cons (if (string-match-p "No such file\\|Connection refused" why)
                         'not_running 'connect)
                     (format "cannot connect to %s: %s" socket why))))))))

(defun kq--request (conn op members cb)
  "Send OP with MEMBERS (an alist) on CONN; call CB with (ERR RESULT) once."
  (if (kq--conn-closed conn)
      (kq--call cb '((code . "closed") (message . "the connection is closed")) nil)
    (let* ((id (kq--conn-next-id conn))
           (p (cons cb nil))
           (line (concat (json-encode `((id . ,id) (op . ,op) (protocol . ,kq-protocol)
                                        ,@members))
                         "\n")))
      (setf (kq--conn-next-id conn) (1+ id))
      (puthash id p (kq--conn-pending conn))
      (when (and kq-timeout (> kq-timeout 0))
        (setcdr p (run-at-time
                   kq-timeout nil
                   (lambda ()
                     (when (eq (gethash id (kq--conn-pending conn)) p)
                       (remhash id (kq--conn-pending conn))
                       (kq--call cb `((code . "timeout")
                                      (message . ,(format "no answer from kqd within %s s"
                                                          kq-timeout)))
                                 nil))))))
      (condition-case e
          (process-send-string (kq--conn-process conn) (encode-coding-string line 'utf-8))
        (error (kq--sentinel conn (error-message-string e)))))))

(defun kq--open (socket cb)
  "Connect to SOCKET and ping, then call CB with (ERR CONN).
CONN is non-nil only when the server speaks protocol 1."
  (let ((conn (kq--connect socket)))
    (if (eq (car-safe conn) 'error)
        (kq--call cb `((code . ,(symbol-name (cadr conn))) (message . ,(cddr conn))) nil)
      (kq--request
       conn "ping" nil
       (lambda (err pong)
         (let ((version
                (cond ((and err (equal (alist-get 'code err) "unsupported_version"))
                       (alist-get 'message err))
                      (err nil)
                      ((not (equal (alist-get 'protocol pong) kq-protocol))
                       (format "it speaks protocol %s" (alist-get 'protocol pong))))))
           (cond
            (version
             (kq--close conn)
             (funcall cb `((code . "version")
                           (message . ,(format (concat "kqd on %s does not speak protocol %d, "
                                                       "the one this package speaks (%s); "
                                                       "use kq.el and a kqd of the same release")
                                               socket kq-protocol version)))
                      nil))
            (err (kq--close conn) (funcall cb err nil))
            (t (funcall cb nil conn)))))))))

;;;; Starting the daemon

(defun kq--kqd-argv (target)
  (append (if (listp kq-kqd-program) kq-kqd-program (list kq-kqd-program))
          (and (plist-get target :index) (list "--index" (plist-get target :index)))
          (and kq-socket (list "--socket" (plist-get target :socket)))))

(defun kq--log-file ()
  "Where a kqd started from Emacs writes its log.
kqd keeps the stderr it was started with."
  (locate-user-emacs-file "kqd.log"))

(defun kq--start-kqd (target cb)
  "Start kqd for TARGET.
Call CB with nil once its socket answers, or with a message.  kqd detaches by
itself once it serves: the process started here exits 0 then, or 2 with the
reason in the log."
  (let* ((argv (kq--kqd-argv target))
         (prog (executable-find (car argv)))
         (log (kq--log-file)))
    (if (not prog)
        (funcall cb (format "`%s' is not an executable program; set `kq-kqd-program'"
                            (car argv)))
      (let* ((status (condition-case e
                         (apply #'call-process prog nil (list nil log) nil (cdr argv))
                       (error (error-message-string e))))
             (why (lambda ()
                    (let ((text (and (file-readable-p log)
                                     (with-temp-buffer
                                       (insert-file-contents log)
                                       (string-trim (buffer-string))))))
                      (if (and text (not (string-empty-p text)))
                          text
                        (format "it exited with status %s" status)))))
             (tries 0)
             timer)
        (if (not (equal status 0))
            (funcall cb (format "%s failed: %s" (mapconcat #'identity argv " ")
                                (funcall why)))
          ;; kqd exits 0 once it serves: its socket answers now, or very soon
          (setq timer
                (run-at-time
                 0 0.05
                 (lambda ()
                   (setq tries (1+ tries))
                   (let ((conn (kq--connect (plist-get target :socket))))
                     (cond
                      ((not (eq (car-safe conn) 'error))
                       (cancel-timer timer)
                       (kq--close conn)
                       (funcall cb nil))
                      ((>= tries 200)
                       (cancel-timer timer)
                       (funcall cb (format "%s failed: %s" (mapconcat #'identity argv " ")
                                           (funcall why))))))))))))))

(defun kq--report (err &optional info)
  (message "kq: %s" (alist-get 'message err))
  (run-hook-with-args 'kq-search-finished-functions err info))

(defun kq--with-server (fn &optional report started)
  "Call FN with a connection speaking protocol 1 and the target.
When there is none, say why with REPORT, `kq--report' by default (offering to
start kqd unless STARTED)."
  (let ((target (kq--target))
        (report (or report #'kq--report)))
    (if (eq (car-safe target) 'error)
        (funcall report `((code . "no_index") (message . ,(cdr target))))
      (kq--open
       (plist-get target :socket)
       (lambda (err conn)
         (cond
          ((not err) (funcall fn conn target))
          ((or started (not (equal (alist-get 'code err) "not_running")))
           (funcall report err))
          (t
           (let* ((index (plist-get target :index))
                  (socket (plist-get target :socket))
                  (mode (cond ((not index) 'never)
                              ((eq kq-start-kqd 'ask)
                               (if (y-or-n-p (format "kqd is not running for %s; start it? "
                                                     index))
                                   'always 'never))
                              (t kq-start-kqd))))
             (if (not (eq mode 'always))
                 (funcall report
                  `((code . "not_running")
                    (message . ,(format "kqd is not running %s; start it with: %s"
                                        (if index
                                            (format "for %s (nothing answers on %s)" index socket)
                                          (format "on %s" socket))
                                        (mapconcat #'shell-quote-argument
                                                   (kq--kqd-argv target) " ")))))
               (message "kq: starting kqd for %s (log: %s)" index (kq--log-file))
               (kq--start-kqd target
                              (lambda (serr)
                                (if serr
                                    (funcall report
                                             `((code . "not_running") (message . ,serr)))
                                  (kq--with-server fn report t)))))))))))))

;;;; The results buffer

(defvar-local kq--query nil "The query of this results buffer.")
(defvar-local kq--plain nil "Whether the query of this buffer is free text.")
(defvar-local kq--generation 0 "The search whose answers this buffer still takes.")
(defvar kq--searches 0 "Searches started: a newer one supersedes the older in `*kq*'.")
(defvar kq--running nil
  "The search still running, as (GENERATION . STOP): STOP ends it as superseded.")

(defvar kq-results-mode-map
  (let ((map (make-sparse-keymap)))
    (set-keymap-parent map special-mode-map)
    (define-key map (kbd "RET") #'kq-visit)
    (define-key map (kbd "C-o") #'kq-display)
    (define-key map (kbd "n") #'kq-next)
    (define-key map (kbd "p") #'kq-previous)
    (define-key map (kbd "TAB") #'kq-next)
    (define-key map (kbd "<backtab>") #'kq-previous)
    (define-key map (kbd "g") #'kq-rerun)
    (define-key map [mouse-2] #'kq-visit-mouse)
    map)
  "Keys of the kq results buffer.")

(define-derived-mode kq-results-mode special-mode "kq"
  "Hits of a kq search, best first, as `compilation-mode' shows errors.
\\<kq-results-mode-map>\\[kq-visit] visits the hit at point, \\[kq-next] and \\[kq-previous]
move between hits and show them, \\[kq-rerun] runs the search again.
\\{kq-results-mode-map}"
  (setq truncate-lines t)
  (setq-local next-error-function #'kq--next-error))

(defun kq--hit-at (pos)
  (get-text-property pos 'kq-hit))

(defun kq--fetch-doc (socket id path &optional path-bytes)
  "The text of the document ID of the file PATH from the daemon on SOCKET.
Waits for it.  PATH is the hit's: ids are unique only within a file.
PATH-BYTES, the hit's path_bytes (a name that is not UTF-8), goes in its place."
  (let (done result)
    (kq--open socket
              (lambda (err conn)
                (if err
                    (setq done t result err)
                  (kq--request conn "doc" (if path-bytes
                                              `((doc . ,id) (path_bytes . ,path-bytes))
                                            `((doc . ,id) (path . ,path)))
                               (lambda (derr r)
                                 (kq--close conn)
                                 (setq done t result (or derr r)))))))
    (let ((deadline (+ (float-time) (or kq-timeout 10))))
      (while (and (not done) (< (float-time) deadline))
        (accept-process-output nil 0.02)))
    (cond ((not done) (user-error "kq: no answer from kqd"))
          ((alist-get 'code result) (user-error "kq: %s" (alist-get 'message result)))
          ((not (stringp (alist-get 'text result)))
           (user-error "kq: kqd sent a document without text"))
          (t (alist-get 'text result)))))

(defvar-local kq--doc nil
  "The JSON-lines document of this buffer: (PATH . ID), PATH the file holding it.")

(defun kq--doc-buffer (path id)
  "The buffer of the document ID of the file PATH.
`*kq ID*', or `*kq ID*<N>' when a document of another file with the same id has
that one."
  (let ((key (cons path id)))
    (or (seq-find (lambda (b) (equal (buffer-local-value 'kq--doc b) key)) (buffer-list))
        (let ((buf (generate-new-buffer (format "*kq %s*" id))))
          (with-current-buffer buf (setq kq--doc key))
          buf))))

(defun kq--hit-buffer (hit)
  "The buffer of HIT: its file's, or a JSON-lines document's text from kqd."
  (if (plist-get hit :doc)
      (let* ((text (kq--fetch-doc (plist-get hit :socket) (plist-get hit :doc)
                                  (plist-get hit :path) (plist-get hit :path-bytes)))
             (buf (kq--doc-buffer (plist-get hit :path) (plist-get hit :doc))))
        (with-current-buffer buf
          (let ((inhibit-read-only t))
            (erase-buffer)
            (insert (replace-regexp-in-string "\r\n" "\n" text))
            (set-buffer-modified-p nil)
            (setq buffer-read-only t)
            (goto-char (point-min))))
        buf)
    (let ((file (plist-get hit :file)))
      (unless (file-exists-p file)
        (user-error "kq: %s does not exist (the index holds it as it was when indexed)" file))
      (find-file-noselect file))))

(defun kq--hit-position (hit buf)
  "The position of the match of HIT in its buffer BUF."
  (with-current-buffer buf
    (save-restriction
      (widen)
      (save-excursion
        (goto-char (point-min))
        (if (plist-get hit :doc)
            ;; a JSON-lines document: its line is the .jsonl file's, not one of the
            ;; document's text; the first matched word, searched from the start of the
            ;; text regardless of case (the start of the text when it is not there)
            (let ((case-fold-search t) (word (plist-get hit :word)))
              (if (and word (search-forward word nil t))
                  (match-beginning 0)
                (point-min)))
          (forward-line (1- (max 1 (plist-get hit :line))))
          ;; the column counts bytes of the line in the file: encoded back as the file was
          ;; read (raw-text for a file with a stray byte that is not UTF-8)
          (let* ((bol (point))
                 (coding (if (and buffer-file-name buffer-file-coding-system
                                  (not (eq (coding-system-type buffer-file-coding-system)
                                           'undecided)))
                             (coding-system-change-eol-conversion buffer-file-coding-system
                                                                  'unix)
                           'utf-8))
                 (line (buffer-substring-no-properties bol (line-end-position)))
                 (bytes (encode-coding-string line coding))
                 (col (min (length bytes) (max 0 (1- (plist-get hit :col))))))
            (+ bol (length (decode-coding-string (substring bytes 0 col) coding)))))))))

(defun kq--show-hit (hit &optional no-select)
  "Show the file of HIT at its match, never in the window of the results.
From the results window the file goes to another window; from any other window
\(`next-error' in a file) it replaces that window's buffer, as `compilation-mode'
does.  The window showing the file is selected unless NO-SELECT."
  (let* ((results-window (get-buffer-window (current-buffer)))
         (buf (kq--hit-buffer hit))
         (pos (kq--hit-position hit buf))
         (win (cond (no-select (display-buffer buf '(nil (inhibit-same-window . t))))
                    ((and results-window (eq (selected-window) results-window))
                     (pop-to-buffer buf '(nil (inhibit-same-window . t)))
                     (selected-window))
                    (t (pop-to-buffer-same-window buf)
                       (selected-window)))))
    (when (window-live-p win)
      (set-window-point win pos))
    (unless no-select
      (set-buffer buf)
      (goto-char pos))
    buf))

(defun kq--hit-here ()
  (or (kq--hit-at (line-beginning-position))
      (user-error "kq: no hit on this line")))

(defun kq-visit ()
  "Visit the file of the hit on this line at the matched words."
  (interactive)
  (let ((hit (kq--hit-here)))
    (setq next-error-last-buffer (current-buffer))
    (kq--show-hit hit)))

(defun kq-visit-mouse (event)
  "Visit the hit clicked on (EVENT)."
  (interactive "e")
  (let ((pos (posn-point (event-end event))))
    (with-current-buffer (window-buffer (posn-window (event-end event)))
      (goto-char pos)
      (kq-visit))))

(defun kq-display ()
  "Show the hit on this line in another window, keeping the results selected."
  (interactive)
  (kq--show-hit (kq--hit-here) t))

(defun kq--move (n)
  "The start of the line of the Nth hit after point (before it when N < 0)."
  (save-excursion
    (let ((step (if (> n 0) 1 -1)) (count (abs n)))
      (beginning-of-line)
      (while (> count 0)
        (when (if (> n 0)
                  (or (/= 0 (forward-line 1)) (eobp))
                (or (bobp) (progn (forward-line -1) nil)))
          (user-error (if (> step 0) "kq: no more hits" "kq: no earlier hit")))
        (when (kq--hit-at (point))
          (setq count (1- count))))
      (point))))

(defun kq-next (&optional n)
  "Move to the Nth next hit and show it."
  (interactive "p")
  (goto-char (kq--move (or n 1)))
  (kq-display))

(defun kq-previous (&optional n)
  "Move to the Nth previous hit and show it."
  (interactive "p")
  (goto-char (kq--move (- (or n 1))))
  (kq-display))

(defun kq--next-error (&optional n reset)
  "The `next-error-function' of kq results: show the Nth hit from point.
With RESET, count from the top."
  (let ((n (or n 1)))
    (when reset
      (goto-char (point-min)))
    (unless (and reset (= n 0))
      (goto-char (kq--move n)))
    (when-let ((win (get-buffer-window (current-buffer))))
      (set-window-point win (point)))
    (kq--show-hit (kq--hit-here))))

(defun kq-rerun ()
  "Run the search of this buffer again."
  (interactive)
  (kq kq--query kq--plain))

(defun kq--file-hit-p (hit)
  "Whether HIT is a whole file's, whose id is the file's path as indexed.
kq-index reads every *.jsonl file as JSON lines, whose documents' ids are their
\"_id\"."
  (let ((path (alist-get 'path hit)))
    (not (and (stringp path) (string-suffix-p ".jsonl" path)))))

(defun kq--insert-hit (hit target)
  (let* ((path (alist-get 'path hit))
         (id (alist-get 'id hit))
         (jsonl (not (kq--file-hit-p hit)))
         (line (or (alist-get 'line hit) 0))
         (col (or (alist-get 'col hit) 0))
         (snippet (replace-regexp-in-string "[\0-\37]" " " (or (alist-get 'snippet hit) "")))
         (start (point))
         ;; a path that is not UTF-8: its bytes, in the file name that encodes back to them
         ;; (`path' has U+FFFD in place of the bytes that are not UTF-8)
         (file (and (not jsonl)
                    (if (stringp (alist-get 'path_bytes hit))
                        (decode-coding-string (base64-decode-string (alist-get 'path_bytes hit))
                                              'utf-8)
                      path)))
         word)
    ;; the path (absolute), relative to the current folder when it lies under it
    (insert (propertize (if (string-prefix-p (file-name-as-directory default-directory) path)
                            (file-relative-name path)
                          path)
                        'face 'compilation-info))
    ;; a JSON-lines document: its line is the one of the .jsonl file holding it
    (when jsonl (insert (propertize (format "[%s]" id) 'face 'compilation-info)))
    (insert ":" (propertize (number-to-string line) 'face 'compilation-line-number)
            ":" (propertize (number-to-string col) 'face 'compilation-column-number)
            ": ")
    (let ((sstart (point))
          (bytes (encode-coding-string snippet 'utf-8)))
      (insert (if (string-empty-p snippet) (or (alist-get 'title hit) "") snippet))
      (unless (string-empty-p snippet)
        (seq-doseq (hl (or (alist-get 'highlights hit) []))
          (when (and (sequencep hl) (= (length hl) 2))
            (let ((b (elt hl 0)) (e (elt hl 1)))
              (when (and (integerp b) (integerp e) (<= 0 b e (length bytes)))
                (let ((cb (length (decode-coding-string (substring bytes 0 b) 'utf-8)))
                      (ce (length (decode-coding-string (substring bytes 0 e) 'utf-8))))
                  (unless (or word (= cb ce))
                    (setq word (substring snippet cb ce)))
                  (add-face-text-property (+ sstart cb) (+ sstart ce) 'kq-match))))))))
    (insert "\n")
    (add-text-properties start (1- (point))
                         `(kq-hit ,(if jsonl
                                       (list :doc id :path path
                                             :path-bytes (alist-get 'path_bytes hit)
                                             :socket (plist-get target :socket)
                                             :line line :col col :word word)
                                     (list :file file :line line :col col))
                                  mouse-face highlight
                                  help-echo ,(format "%s (score %s)" (or (alist-get 'title hit) "")
                                                     (alist-get 'score hit))))))

(defun kq--results-buffer (query plain target gen)
  (let ((buf (get-buffer-create "*kq*")))
    (with-current-buffer buf
      (let ((inhibit-read-only t))
        (kq-results-mode)
        (erase-buffer)
        (setq default-directory (if (plist-get target :index)
                                    (file-name-directory (plist-get target :index))
                                  default-directory))
        (setq kq--query query kq--plain plain)
        (setq kq--generation gen)
        (insert (propertize (format "kq %s%s\n" (if plain "(free text) " "") query)
                            'face 'bold)
                (format "index %s\n\n" (or (plist-get target :index)
                                            (plist-get target :socket))))))
    buf))

(defun kq--finish (buf status)
  (when (buffer-live-p buf)
    (with-current-buffer buf
      (let ((inhibit-read-only t))
        (save-excursion
          (goto-char (point-max))
          (insert "\n" status "\n"))))))

(defvar kq--history nil "Queries asked with `kq'.")

(defun kq--width-before (s off)
  "The display width of S in its first OFF bytes of UTF-8 (a wide character: 2)."
  (let ((bytes (encode-coding-string s 'utf-8)))
    (string-width (decode-coding-string (substring bytes 0 (min off (length bytes))) 'utf-8))))

;;;###autoload
(defun kq (query &optional plain)
  "Search the kq index for QUERY and list the hits in the `*kq*' buffer.
With a prefix argument (PLAIN non-nil) QUERY is free text: no operators,
every word a ranked-OR term."
  (interactive
   (list (let ((def (if (use-region-p)
                        (buffer-substring-no-properties (region-beginning) (region-end))
                      (thing-at-point 'symbol t))))
           (read-string (format (if def "kq%s (default %s): " "kq%s: ")
                                (if current-prefix-arg " text" "") def)
                        nil 'kq--history def))
         current-prefix-arg))
  (if (string-match-p "\\`[ \t\n]*\\'" (or query ""))
      (kq--report '((code . "bad_request") (message . "an empty query")))
    (let* ((limit (max 1 kq-limit))
           (page (max 1 (min kq-page (max 1 kq-limit))))
           (plain-json (if plain t :json-false))
           (dir default-directory)
           ;; the search takes its place in *kq* now: one started later wins, even when
           ;; kqd answers this one later
           (gen (setq kq--searches (1+ kq--searches)))
           (answers (make-hash-table))
           (next-page 2) (last-page 1) (shown 0) (total 0) (pages 0)
           conn where buf ended)
      (cl-labels
          ((info () (list :total total :shown shown :pages pages :buffer buf))
           (end (err)
             ;; the end of the search, once: its connection closes, the hook runs
             (unless ended
               (setq ended t)
               (when (eql (car kq--running) gen) (setq kq--running nil))
               (when conn (kq--close conn))
               (run-hook-with-args 'kq-search-finished-functions err (info))))
           (stop ()
             (end '((code . "superseded") (message . "a newer search replaced this one"))))
           (live ()
             ;; whether its answers still count (no longer once *kq* is killed)
             (cond (ended nil)
                   ((/= gen kq--searches) (stop) nil)
                   ((not (buffer-live-p buf))
                    (end '((code . "cancelled") (message . "the *kq* buffer was killed")))
                    nil)
                   (t t)))
           (append-hits (result)
             (setq pages (1+ pages))
             (with-current-buffer buf
               (let ((inhibit-read-only t))
                 (save-excursion
                   (goto-char (point-max))
                   (seq-doseq (hit (or (alist-get 'hits result) []))
                     (kq--insert-hit hit where)
                     (setq shown (1+ shown)))))))
           (done ()
             (let ((status (if (= shown 0)
                               (format "no match for %s" query)
                             (format "%d of %d hits" shown total))))
               (kq--finish buf status)
               (message "kq: %s" status))
             (end nil))
           (fail (err)
             (kq--finish buf (concat "error: " (alist-get 'message err)))
             (message "kq: %s" (alist-get 'message err))
             (end err))
           (on-page (n err result)
             (when (live)
               (if err
                   (fail err)
                 (puthash n result answers)
                 (while (gethash next-page answers)
                   (append-hits (gethash next-page answers))
                   (remhash next-page answers)
                   (setq next-page (1+ next-page)))
                 (when (> next-page last-page) (done))))))
        (when kq--running (funcall (cdr kq--running)))
        (setq kq--running (cons gen #'stop))
        (kq--with-server
         (lambda (c target)
           (setq conn c where target)
           (cond
            (ended (kq--close c))       ; superseded before kqd answered
            ((/= gen kq--searches) (stop))
            (t
             (let ((default-directory dir))
               (setq buf (kq--results-buffer query plain target gen)))
             (kq--request
              conn "search" `((query . ,query) (k . ,page) (offset . 0) (plain . ,plain-json))
              (lambda (err result)
                (cond
                 ((not (live)))
                 (err
                  (when (and (equal (alist-get 'code err) "parse_error")
                             (integerp (alist-get 'offset err))
                             (>= (alist-get 'offset err) 0))
                    (setf (alist-get 'message err)
                          (format "%s\n  %s\n  %s^" (alist-get 'message err) query
                                  (make-string (kq--width-before query (alist-get 'offset err))
                                               ?\s))))
                  (fail err))
                 (t
                  (setq total (or (alist-get 'total result) 0))
                  (let* ((got (length (or (alist-get 'hits result) [])))
                         (want (if (< got page) got (min limit total)))
                         (offset got))
                    (append-hits result)
                    (display-buffer buf)
                    (with-current-buffer buf
                      (setq next-error-last-buffer buf))
                    (while (< offset want)
                      (let ((k (min page (- want offset)))
                            (n (setq last-page (1+ last-page))))
                        (kq--request conn "search"
                                     `((query . ,query) (k . ,k) (offset . ,offset)
                                       (plain . ,plain-json))
                                     (lambda (perr presult) (on-page n perr presult)))
                        (setq offset (+ offset k))))
                    (when (= last-page 1) (done))))))))))
         (lambda (err)
           (unless ended
             (message "kq: %s" (alist-get 'message err))
             (end err))))))))

;;;###autoload
(defun kq-status ()
  "Show the daemon's protocol, index, documents and query latency."
  (interactive)
  (kq--with-server
   (lambda (conn target)
     (kq--request
      conn "stats" nil
      (lambda (err s)
        (kq--close conn)
        (if err
            (kq--report err)
          (let ((idx (alist-get 'index s)) (lat (alist-get 'latency_us s)))
            (message (concat "kq: %s on %s: index %s, generation %s, %s documents in %s "
                             "segments; %s queries, p50 %s µs, p99 %s µs; up %s s")
                     (alist-get 'server s) (plist-get target :socket)
                     (alist-get 'path idx) (alist-get 'generation idx)
                     (alist-get 'documents idx) (alist-get 'segments idx)
                     (alist-get 'queries s) (alist-get 'p50 lat) (alist-get 'p99 lat)
                     (alist-get 'uptime_s s)))))))))

;;;###autoload
(defun kq-start ()
  "Start kqd for the index (found as `kq' finds it)."
  (interactive)
  (let ((target (kq--target)))
    (cond
     ((eq (car-safe target) 'error) (message "kq: %s" (cdr target)))
     ((not (plist-get target :index)) (message "kq: no index to serve"))
     (t
      (let ((conn (kq--connect (plist-get target :socket))))
        (if (not (eq (car-safe conn) 'error))
            (progn (kq--close conn)
                   (message "kq: kqd is already running on %s" (plist-get target :socket)))
          (kq--start-kqd target
                         (lambda (err)
                           (message "kq: %s" (or err (concat "kqd is running on "
                                                            (plist-get target :socket))))))))))))

(provide 'kq)
;;; kq.el ends here
