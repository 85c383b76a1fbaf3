;; SIMD kernels of the tensor packer (agent/preprocess/tensor.ts), WebAssembly text format.
;; `npm run build:simd` turns this file into pack-wasm.ts; a test checks the two are in step.
;;
;; (p - mean) / std in float32, per channel, 16 pixels per step; the packer does the last (pixels % 16) in JS.
;; Two layouts of 8-bit frames: interleaved (rgb24/bgr24) and planar (gbrp).
;; Memory is imported so the packer can lay out its buffers.
(module
  (import "env" "mem" (memory 1 65536))

  ;; 16 bytes of one channel -> 16 float32 (p - m) / s at $out.
  (func $store16 (param $v v128) (param $out i32) (param $m v128) (param $s v128)
    (local $lo v128) (local $hi v128)
    (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
    (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
    (v128.store offset=0 (local.get $out)
      (f32x4.div (f32x4.sub (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $lo))) (local.get $m)) (local.get $s)))
    (v128.store offset=16 (local.get $out)
      (f32x4.div (f32x4.sub (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $lo))) (local.get $m)) (local.get $s)))
    (v128.store offset=32 (local.get $out)
      (f32x4.div (f32x4.sub (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $hi))) (local.get $m)) (local.get $s)))
    (v128.store offset=48 (local.get $out)
      (f32x4.div (f32x4.sub (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $hi))) (local.get $m)) (local.get $s))))

  ;; Interleaved 3-channel bytes at $src (pixel k: bytes 3k, 3k+1, 3k+2) -> three float32 planes at $dst
  ;; (channel c at $dst + c * $px * 4), for the first ($px & ~15) pixels.
  (func (export "interleaved3") (param $src i32) (param $dst i32) (param $px i32)
        (param $m0 f32) (param $m1 f32) (param $m2 f32) (param $s0 f32) (param $s1 f32) (param $s2 f32)
    (local $end i32) (local $o0 i32) (local $o1 i32) (local $o2 i32)
    (local $a v128) (local $b v128) (local $c v128)
    (local $vm0 v128) (local $vm1 v128) (local $vm2 v128) (local $vs0 v128) (local $vs1 v128) (local $vs2 v128)
    (local.set $vm0 (f32x4.splat (local.get $m0)))
    (local.set $vm1 (f32x4.splat (local.get $m1)))
    (local.set $vm2 (f32x4.splat (local.get $m2)))
    (local.set $vs0 (f32x4.splat (local.get $s0)))
    (local.set $vs1 (f32x4.splat (local.get $s1)))
    (local.set $vs2 (f32x4.splat (local.get $s2)))
    (local.set $o0 (local.get $dst))
    (local.set $o1 (i32.add (local.get $dst) (i32.shl (local.get $px) (i32.const 2))))
    (local.set $o2 (i32.add (local.get $o1) (i32.shl (local.get $px) (i32.const 2))))
    ;; $end: where channel 0's output stops
    (local.set $end (i32.add (local.get $dst) (i32.shl (i32.and (local.get $px) (i32.const -16)) (i32.const 2))))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $o0) (local.get $end)))
        (local.set $a (v128.load offset=0 (local.get $src)))
        (local.set $b (v128.load offset=16 (local.get $src)))
        (local.set $c (v128.load offset=32 (local.get $src)))
        (call $store16 (v128.or (v128.or
          (i8x16.swizzle (local.get $a) (v128.const i8x16 0 3 6 9 12 15 128 128 128 128 128 128 128 128 128 128))
          (i8x16.swizzle (local.get $b) (v128.const i8x16 128 128 128 128 128 128 2 5 8 11 14 128 128 128 128 128)))
          (i8x16.swizzle (local.get $c) (v128.const i8x16 128 128 128 128 128 128 128 128 128 128 128 1 4 7 10 13))) (local.get $o0) (local.get $vm0) (local.get $vs0))
        (call $store16 (v128.or (v128.or
          (i8x16.swizzle (local.get $a) (v128.const i8x16 1 4 7 10 13 128 128 128 128 128 128 128 128 128 128 128))
          (i8x16.swizzle (local.get $b) (v128.const i8x16 128 128 128 128 128 0 3 6 9 12 15 128 128 128 128 128)))
          (i8x16.swizzle (local.get $c) (v128.const i8x16 128 128 128 128 128 128 128 128 128 128 128 2 5 8 11 14))) (local.get $o1) (local.get $vm1) (local.get $vs1))
        (call $store16 (v128.or (v128.or
          (i8x16.swizzle (local.get $a) (v128.const i8x16 2 5 8 11 14 128 128 128 128 128 128 128 128 128 128 128))
          (i8x16.swizzle (local.get $b) (v128.const i8x16 128 128 128 128 128 1 4 7 10 13 128 128 128 128 128 128)))
          (i8x16.swizzle (local.get $c) (v128.const i8x16 128 128 128 128 128 128 128 128 128 128 0 3 6 9 12 15))) (local.get $o2) (local.get $vm2) (local.get $vs2))
        (local.set $src (i32.add (local.get $src) (i32.const 48)))
        (local.set $o0 (i32.add (local.get $o0) (i32.const 64)))
        (local.set $o1 (i32.add (local.get $o1) (i32.const 64)))
        (local.set $o2 (i32.add (local.get $o2) (i32.const 64)))
        (br $step))))

  ;; One plane of bytes at $src -> float32 at $dst, for the first ($n & ~15) bytes (planar frames: gbrp).
  (func (export "plane") (param $src i32) (param $dst i32) (param $n i32) (param $m f32) (param $s f32)
    (local $end i32) (local $vm v128) (local $vs v128)
    (local.set $vm (f32x4.splat (local.get $m)))
    (local.set $vs (f32x4.splat (local.get $s)))
    (local.set $end (i32.add (local.get $src) (i32.and (local.get $n) (i32.const -16))))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (call $store16 (v128.load (local.get $src)) (local.get $dst) (local.get $vm) (local.get $vs))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
        (br $step))))
)
