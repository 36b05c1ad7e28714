;;; kq-test.el --- ERT tests of kq.el against a real kqd  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/e2e/emacs.sh in `emacs --batch' from the folder of an index of corpus/
;; served by a real kqd.  Environment (set by emacs.sh): KQ_TEST_DIR (the scratch
;; folder), KQ_TEST_KQD (the kqd program), KQ_TEST_DEEP (an index whose socket path needs
;; the XXH3 fallback) and KQ_TEST_DEEP_SOCK (where its kqd listens), KQ_TEST_EXTRA (the
;; index of the regression tests' documents, served by kqd), XDG_RUNTIME_DIR.

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'kq)

(defvar kq-test-dir (file-name-as-directory (getenv "KQ_TEST_DIR")))
(defvar kq-test-work (concat kq-test-dir "work/"))
(defconst kq-test-query "reciprocal defense procurement")

(defvar kq-test-messages nil "Messages shown while a test ran, newest first.")

(defun kq-test--record (fmt &rest args)
  (when fmt
    (push (apply #'format-message fmt args) kq-test-messages))
  nil)

(defun kq-test--message-matching (regexp)
  (cl-find-if (lambda (m) (string-match-p regexp m)) kq-test-messages))

(defmacro kq-test--with-messages (&rest body)
  "Run BODY with every `message' recorded in `kq-test-messages'."
  (declare (indent 0))
  `(let ((kq-test-messages nil))
     (advice-add 'message :before #'kq-test--record)
     (unwind-protect (progn ,@body)
       (advice-remove 'message #'kq-test--record))))

(defun kq-test--wait (pred what)
  "Wait up to 20 s for PRED to hold, running the event loop; fail naming WHAT."
  (let ((deadline (+ (float-time) 20)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.02))
    (unless (funcall pred)
      (ert-fail (format "timed out waiting for %s; messages: %S" what kq-test-messages)))))

(defun kq-test--search (query &optional plain)
  "Run `kq' on QUERY and wait for its end; return (ERR . INFO)."
  (let* ((done nil)
         (hook (lambda (err info) (setq done (cons err info)))))
    (add-hook 'kq-search-finished-functions hook)
    (unwind-protect
        (progn (kq query plain)
               (kq-test--wait (lambda () done) (format "the search %S" query)))
      (remove-hook 'kq-search-finished-functions hook))
    done))

(defun kq-test--expected ()
  "The hits of kq --vimgrep: a list of (PATH LINE COL SNIPPET)."
  (with-temp-buffer
    (insert-file-contents (concat kq-test-dir "expect.vimgrep"))
    (cl-loop for line in (split-string (buffer-string) "\n" t)
             collect (progn
                       (string-match "\\`\\([^:]+\\):\\([0-9]+\\):\\([0-9]+\\):\\(.*\\)\\'" line)
                       (list (match-string 1 line)
                             (string-to-number (match-string 2 line))
                             (string-to-number (match-string 3 line))
                             (match-string 4 line))))))

(defun kq-test--hits ()
  "The hits of the *kq* buffer: a list of (LINE-TEXT . HIT-PROPERTY)."
  (with-current-buffer "*kq*"
    (save-excursion
      (goto-char (point-min))
      (cl-loop until (eobp)
               for hit = (get-text-property (point) 'kq-hit)
               when hit collect (cons (buffer-substring-no-properties
                                       (line-beginning-position) (line-end-position))
                                      hit)
               do (forward-line 1)))))

(defun kq-test--check-buffer ()
  (let ((expected (kq-test--expected))
        (hits (kq-test--hits)))
    (should (= (length expected) 5))
    (should (= (length hits) (length expected)))
    (cl-loop for (path line col snippet) in expected
             for (text . hit) in hits
             do (should (equal text (format "%s:%d:%d: %s" path line col snippet)))
             do (should (equal hit (list :file (expand-file-name path kq-test-work)
                                         :line line :col col))))))

(defun kq-test--byte-column ()
  (1+ (- (position-bytes (point)) (position-bytes (line-beginning-position)))))

(defun kq-test--check-selected-window (expected)
  "The selected window shows the hit EXPECTED, (PATH LINE COL SNIPPET), at its word."
  (set-buffer (window-buffer (selected-window)))
  (goto-char (window-point))
  (should (equal buffer-file-name (expand-file-name (nth 0 expected) kq-test-work)))
  (should (= (line-number-at-pos) (nth 1 expected)))
  (should (= (kq-test--byte-column) (nth 2 expected))))

(ert-deftest kq-test-search ()
  "M-x kq lists the hits of kq --vimgrep; RET and next-error visit them at the word."
  (let ((default-directory kq-test-work))
    (kq-test--with-messages
      (let ((r (kq-test--search kq-test-query)))
        (should (null (car r)))
        (should (equal (plist-get (cdr r) :shown) 5))
        (should (kq-test--message-matching "\\`kq: 5 of 5 hits"))))
    (kq-test--check-buffer)
    (with-current-buffer "*kq*"
      (should (eq major-mode 'kq-results-mode))
      (should (string-match-p (regexp-quote kq-test-query) (buffer-string))))
    (let ((first (car (kq-test--expected)))
          (second (cadr (kq-test--expected))))
      ;; RET on the first hit
      (pop-to-buffer "*kq*")
      (goto-char (point-min))
      (while (and (not (eobp)) (not (get-text-property (point) 'kq-hit)))
        (forward-line 1))
      (kq-visit)
      (kq-test--check-selected-window first)
      (should (get-buffer-window "*kq*"))
      (should (string-match-p "\\`\\(reciproc\\|defen\\|procur\\)"
                              (downcase (buffer-substring (point) (line-end-position)))))
      ;; next-error from the visited file goes on to the second hit, in the same window
      (next-error)
      (kq-test--check-selected-window second)
      (should (get-buffer-window "*kq*")))))

(ert-deftest kq-test-jsonl ()
  "A JSON-lines hit shows the document's text from kqd (doc) at its matched word.
The hit's line and column are the .jsonl file's (line 1, column 1): not used in
the document's text."
  (let* ((default-directory kq-test-work)
         (want (with-temp-buffer
                 (insert-file-contents (concat kq-test-dir "expect.jsonl.vimgrep"))
                 (split-string (buffer-string) "\n" t)))
         (m (progn (should (= (length want) 1))
                   (string-match "\\`\\([^:]+\\):\\([0-9]+\\):\\([0-9]+\\):\\(.*\\)\\'" (car want))
                   (list (match-string 1 (car want))
                         (string-to-number (match-string 2 (car want)))
                         (string-to-number (match-string 3 (car want)))
                         (match-string 4 (car want))))))
    (should (null (car (kq-test--search "zyzzyva"))))
    (let ((hits (kq-test--hits)))
      (should (= (length hits) 1))
      (should (equal (car (car hits))
                     (format "%s[note-1]:%d:%d: %s" (nth 0 m) (nth 1 m) (nth 2 m) (nth 3 m))))
      (should (equal (plist-get (cdr (car hits)) :doc) "note-1")))
    (pop-to-buffer "*kq*")
    (goto-char (point-min))
    (while (and (not (eobp)) (not (get-text-property (point) 'kq-hit)))
      (forward-line 1))
    (kq-visit)
    (should (equal (buffer-name) "*kq note-1*"))
    (should (equal (buffer-string) "first line\nsecond zyzzyva line\nthird"))
    (should buffer-read-only)
    (should (= (line-number-at-pos) 2))
    (should (looking-at "zyzzyva line"))))

(ert-deftest kq-test-pages ()
  "With pages of 2 the hits come in 3 answers and join the buffer in rank order."
  (let ((default-directory kq-test-work)
        (kq-page 2))
    (let ((r (kq-test--search kq-test-query)))
      (should (null (car r)))
      (should (equal (plist-get (cdr r) :pages) 3))
      (should (equal (plist-get (cdr r) :total) 5)))
    (kq-test--check-buffer)))

(ert-deftest kq-test-parse-error ()
  "A query syntax error is a message with a caret, not a Lisp error."
  (let ((default-directory kq-test-work))
    (kq-test--with-messages
      (let ((r (kq-test--search "(foo bar")))
        (should (equal (alist-get 'code (car r)) "parse_error")))
      (let ((m (kq-test--message-matching "unbalanced '('")))
        (should m)
        (should (string-match-p "\\`kq: unbalanced '(' at byte [0-9]+\n  (foo bar\n  \\^" m)))
      (should-not (kq-test--message-matching "error in process")))
    ;; the caret goes under the '(' by display columns: Hangul takes 2 each
    (kq-test--with-messages
      (kq-test--search "한국 (foo")
      (should (kq-test--message-matching "\n  한국 (foo\n       \\^\\'")))
    (kq-test--with-messages
      (let ((r (kq-test--search "zzzzqqqxx")))
        (should (null (car r)))
        (should (equal (plist-get (cdr r) :shown) 0)))
      (should (kq-test--message-matching "\\`kq: no match for zzzzqqqxx")))))

(ert-deftest kq-test-not-running ()
  "No daemon: a message says how to start kqd; with `ask' the user is asked first."
  (let* ((default-directory kq-test-work)
         (none (concat kq-test-dir "none.sock"))
         (kq-socket none))
    (kq-test--with-messages
      (let ((kq-start-kqd 'never))
        (should (equal (alist-get 'code (car (kq-test--search kq-test-query))) "not_running")))
      (should (kq-test--message-matching
               (concat "kqd is not running for .*start it with: kqd --index "
                       (regexp-quote (concat kq-test-work ".kq")) " --socket "
                       (regexp-quote none)))))
    (let ((asked nil))
      (cl-letf (((symbol-function 'y-or-n-p) (lambda (prompt) (setq asked prompt) nil)))
        (kq-test--with-messages
          (let ((kq-start-kqd 'ask))
            (kq-test--search kq-test-query))
          (should (kq-test--message-matching "start it with"))))
      (should (string-match-p "start it\\?" asked)))))

(defun kq-test--fake-server (path answer)
  "A server on PATH that answers each request line with (ANSWER ID)."
  (make-network-process
   :name "kq-test-fake" :server t :family 'local :service path :noquery t
   :coding 'binary
   :filter (lambda (proc chunk)
             (dolist (line (split-string chunk "\n" t))
               (when (string-match "\"id\":\\([0-9]+\\)" line)
                 (process-send-string proc (concat (funcall answer (match-string 1 line))
                                                   "\n")))))))

(ert-deftest kq-test-version ()
  "A server of another protocol version is a clear message."
  (let* ((default-directory kq-test-work)
         (v2 (kq-test--fake-server
              (concat kq-test-dir "v2.sock")
              (lambda (id)
                (format "{\"id\":%s,\"result\":{\"pong\":true,\"protocol\":2,\"server\":\"kqd 9\"}}"
                        id))))
         (v3 (kq-test--fake-server
              (concat kq-test-dir "v3.sock")
              (lambda (id)
                (format (concat "{\"id\":%s,\"error\":{\"code\":\"unsupported_version\","
                                "\"message\":\"this server speaks protocol 3\",\"offset\":-1}}")
                        id)))))
    (unwind-protect
        (progn
          (kq-test--with-messages
            (let ((kq-socket (concat kq-test-dir "v2.sock")))
              (should (equal (alist-get 'code (car (kq-test--search kq-test-query)))
                             "version")))
            (should (kq-test--message-matching
                     "does not speak protocol 1.*(it speaks protocol 2)")))
          (kq-test--with-messages
            (let ((kq-socket (concat kq-test-dir "v3.sock")))
              (should (equal (alist-get 'code (car (kq-test--search kq-test-query)))
                             "version")))
            (should (kq-test--message-matching
                     "does not speak protocol 1.*this server speaks protocol 3"))))
      (delete-process v2)
      (delete-process v3))))

(ert-deftest kq-test-deep-index ()
  "A deep index: the socket is the XXH3-64 name kqd listens on."
  (let* ((deep (getenv "KQ_TEST_DEEP"))
         (real (directory-file-name (file-truename deep))))
    (should (> (length (concat real "/kqd.sock")) 107))
    (should (equal (kq--socket-path real) (getenv "KQ_TEST_DEEP_SOCK")))
    (let ((kq-index deep)
          (default-directory kq-test-dir))
      (let ((r (kq-test--search kq-test-query)))
        (should (null (car r)))
        (should (equal (plist-get (cdr r) :shown) 5)))
      (should (string-prefix-p (file-name-directory real)
                               (plist-get (cdr (car (kq-test--hits))) :file))))))

(defconst kq-test-xxh3-vectors
  '((0 "2d06800538d394c2") (1 "e12ef9d2eb86ceeb") (3 "ebce9b7632ae733b")
    (4 "988b7b9033ac4622") (8 "16f217ea16232297") (9 "17d143e7f447850a")
    (16 "eb5aeb9a32450f6a") (17 "6d458e1fff494078") (128 "ce22cae9106851df")
    (129 "7d4fc663f5958d40") (240 "a5a910b2d7e065b0") (241 "b6515f490cdd4ce5")
    (1024 "b3cf1ea265cbc313") (1025 "b67f3054786f763a") (4096 "e1bebfef3a9d4849"))
  "XXH3_64bits (libxxhash 0.8) of the first N bytes of 1, 2, ..., 251, 1, 2, ...")

(ert-deftest kq-test-xxh3 ()
  "XXH3-64 at the lengths where the algorithm changes, as libxxhash computes it."
  (let ((bytes (apply #'unibyte-string
                      (cl-loop for i below 4096 collect (1+ (% i 251))))))
    (pcase-dolist (`(,n ,want) kq-test-xxh3-vectors)
      (should (equal (list n (kq--xxh3-hex (substring bytes 0 n))) (list n want))))))

(ert-deftest kq-test-status ()
  "M-x kq-status shows the daemon's index and figures."
  (let ((default-directory kq-test-work))
    (kq-test--with-messages
      (kq-status)
      (kq-test--wait (lambda () (kq-test--message-matching "documents")) "kq-status")
      (should (kq-test--message-matching "\\`kq: kqd .* 6 documents")))))

(ert-deftest kq-test-start ()
  "With `kq-start-kqd' set to always, kq starts kqd for the index, then searches."
  (let ((default-directory kq-test-dir)
        (kq-index (concat kq-test-dir "auto/.kq"))
        (kq-start-kqd 'always)
        (kq-kqd-program (getenv "KQ_TEST_KQD")))
    (kq-test--with-messages
      (let ((r (kq-test--search kq-test-query)))
        (should (null (car r)))
        (should (equal (plist-get (cdr r) :shown) 5)))
      (should (kq-test--message-matching "\\`kq: starting kqd")))))

(ert-deftest kq-test-start-fails ()
  "A kqd that cannot start: its own reason is the message."
  (let ((default-directory kq-test-dir)
        (kq-index (concat kq-test-dir "auto/docs"))
        (kq-start-kqd 'always)
        (kq-kqd-program (getenv "KQ_TEST_KQD")))
    (kq-test--with-messages
      (let ((r (kq-test--search kq-test-query)))
        (should (equal (alist-get 'code (car r)) "not_running")))
      (should (kq-test--message-matching "failed: kqd: no index in")))))

;;;; Regressions, on the documents of KQ_TEST_EXTRA

(defmacro kq-test--in-extra (&rest body)
  "Run BODY searching the index of the regression tests' documents."
  (declare (indent 0))
  `(let ((kq-index (getenv "KQ_TEST_EXTRA"))
         (default-directory kq-test-dir))
     ,@body))

(defun kq-test--visit (n)
  "Visit the Nth hit (from 0) of *kq* as RET does; return the buffer shown."
  (pop-to-buffer "*kq*")
  (goto-char (point-min))
  (let ((i -1))
    (while (progn (while (and (not (eobp)) (not (get-text-property (point) 'kq-hit)))
                    (forward-line 1))
                  (< (setq i (1+ i)) n))
      (forward-line 1)))
  (kq-visit)
  (current-buffer))

(ert-deftest kq-test-jsonl-word ()
  "A JSON-lines hit goes to its word in the text, not to its line of the .jsonl file."
  (kq-test--in-extra
    (should (null (car (kq-test--search "quokka"))))
    (kq-test--visit 0)
    (should (equal (buffer-substring (line-beginning-position) (line-end-position))
                   "Quokka is here"))
    (should (looking-at "Quokka"))
    ;; the sixth line of the .jsonl file: the first line of its document's text
    (should (null (car (kq-test--search "wombat"))))
    (kq-test--visit 0)
    (should (= (point) (point-min)))
    (should (looking-at "wombat first"))))

(ert-deftest kq-test-jsonl-same-id ()
  "Two .jsonl files holding the same id: each hit shows its own file's document."
  (kq-test--in-extra
    (let ((r (kq-test--search "numbat")))
      (should (null (car r)))
      (should (= (plist-get (cdr r) :shown) 2)))
    (let ((bufs
           (cl-loop for n below 2
                    for hit = (cdr (nth n (kq-test--hits)))
                    for buf = (kq-test--visit n)
                    do (should (equal (buffer-string)
                                      (if (string-suffix-p "/dup1.jsonl" (plist-get hit :path))
                                          "apple numbat"
                                        "banana numbat")))
                    collect buf)))
      (should-not (eq (car bufs) (cadr bufs)))
      (should (equal (buffer-name (car bufs)) "*kq dup*")))))

(ert-deftest kq-test-path-bytes ()
  "A file whose name is not UTF-8 opens by its bytes (path_bytes)."
  (kq-test--in-extra
    (should (null (car (kq-test--search "latinword"))))
    (kq-test--visit 0)
    (should buffer-file-name)
    (should (equal (encode-coding-string (file-name-nondirectory buffer-file-name) 'utf-8)
                   "caf\351.txt"))
    (should (file-exists-p buffer-file-name))
    (should (looking-at "latinword"))))

(ert-deftest kq-test-stray-byte ()
  "A file with a stray byte that is not UTF-8: the column counts the file's bytes."
  (kq-test--in-extra
    (should (null (car (kq-test--search "bilby"))))
    (kq-test--visit 0)
    (should (looking-at "bilby here"))))

(ert-deftest kq-test-nul-escape ()
  "A document whose title holds \\u0000 does not spoil the answer that carries it."
  (kq-test--in-extra
    (let ((r (kq-test--search "echidna")))
      (should (null (car r)))
      (should (= (plist-get (cdr r) :shown) 2))))
  (should (equal (kq--json-read "{\"a\":\"x\\u0000y\",\"b\":\"\\\\u0000\",\"c\":\"\\\\\\u0000\"}")
                 '((a . "x\ufffdy") (b . "\\u0000") (c . "\\\ufffd")))))

(defun kq-test--slow-server (path)
  "A fake kqd on PATH answering ping, and search with one hit whose snippet is the
query; the answers on its first connection come 1 s late."
  (let ((n 0))
    (make-network-process
     :name "kq-test-slow" :server t :family 'local :service path :noquery t
     :coding 'binary
     :log (lambda (_server client _message)
            (process-put client 'kq-test-n (setq n (1+ n))))
     :filter (lambda (proc chunk)
               (dolist (line (split-string chunk "\n" t))
                 (let* ((req (json-parse-string line :object-type 'alist))
                        (id (alist-get 'id req))
                        (answer
                         (concat
                          (json-encode
                           (if (equal (alist-get 'op req) "ping")
                               `((id . ,id) (result (pong . t) (protocol . 1)
                                                    (server . "fake")))
                             `((id . ,id)
                               (result (total . 1) (took_us . 1)
                                       (hits . [((id . "x.txt") (path . "/nonexistent/x.txt")
                                                 (title . "") (score . 1) (line . 1) (col . 1)
                                                 (snippet . ,(alist-get 'query req))
                                                 (highlights . []))])))))
                          "\n")))
                   (if (eql (process-get proc 'kq-test-n) 1)
                       (run-at-time 1 nil (lambda ()
                                            (when (process-live-p proc)
                                              (process-send-string proc answer))))
                     (process-send-string proc answer))))))))

(ert-deftest kq-test-superseded ()
  "A newer search keeps *kq* even when kqd answers the older one later; the older
ends at once (the hook runs, with the code superseded) and its connection closes."
  (let* ((default-directory kq-test-work)
         (sock (concat kq-test-dir "slow.sock"))
         (server (kq-test--slow-server sock))
         (kq-socket sock)
         (ends nil)
         (hook (lambda (err info) (push (cons err info) ends))))
    (add-hook 'kq-search-finished-functions hook)
    (unwind-protect
        (progn
          (kq "alpha")
          (kq "beta")
          (kq-test--wait (lambda () (= (length ends) 2)) "the end of both searches")
          ;; the answer to the older search's ping comes late: let it come
          (let ((deadline (+ (float-time) 1.5)))
            (while (< (float-time) deadline) (accept-process-output nil 0.05)))
          (should (= (length ends) 2))
          (should (equal (alist-get 'code (car (nth 1 ends))) "superseded"))
          (should (null (car (nth 0 ends))))
          (with-current-buffer "*kq*"
            (should (string-prefix-p "kq beta\n" (buffer-string)))
            (should (string-match-p ": beta\n" (buffer-string)))
            (should-not (string-match-p "alpha" (buffer-string))))
          (should-not (cl-find-if (lambda (p) (and (string-match-p "\\`kq\\(<[0-9]+>\\)?\\'"
                                                                   (process-name p))
                                                   (process-live-p p)))
                                  (process-list))))
      (remove-hook 'kq-search-finished-functions hook)
      (delete-process server))))

(provide 'kq-test)
;;; kq-test.el ends here
